/**
 * A fixed number of patient-view hooks for the typical example patient against the compiled service, for
 * counting instructions (the shared machine's timings swing too much to compare two builds by time):
 *   npm run build
 *   valgrind --tool=callgrind --smc-check=all-non-file node --single-threaded --import tsx bench/hook-loop.ts 0
 *   valgrind --tool=callgrind --smc-check=all-non-file node --single-threaded --import tsx bench/hook-loop.ts 300
 * (instructions of the second run minus the first) / 300 = instructions per hook, start-up and warm-up left out.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const { buildApp } = await import(resolve(root, 'dist/src/app.js'));
const { loadConfig } = await import(resolve(root, 'dist/src/config.js'));
const { prefetchFromBundle } = await import(resolve(root, 'dist/src/examples/example-patients.js'));
const dir = mkdtempSync(join(tmpdir(), 'evh-'));
const config = loadConfig({ LOG_LEVEL: 'silent', AUTH_MODE: 'off', RATE_LIMIT: 'off', FEEDBACK_FILE: join(dir, 'f.jsonl') });
const app = buildApp({ config, clock: () => new Date('2026-11-23T09:00:00Z') });
await app.ready();
const bundle = JSON.parse(readFileSync(resolve(root, 'cds-hooks/examples/sle-child-likely.json'), 'utf8'));
const payload = JSON.stringify({ hook: 'patient-view', hookInstance: '0b6d1c53-5d7c-4a7e-9e43-3f1e1f7f6a10', context: { userId: 'Practitioner/x', patientId: 'sle-child-likely' }, prefetch: prefetchFromBundle(bundle) });
const n = Number(process.argv[2] ?? 0);
const call = (): ReturnType<typeof app.inject> => app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', headers: { 'content-type': 'application/json' }, payload });
const first = await call(); if (first.statusCode !== 200) { console.error(first.body); process.exit(1); }
for (let i = 0; i < 200; i++) await call();
for (let i = 0; i < n; i++) await call();
await app.close();
