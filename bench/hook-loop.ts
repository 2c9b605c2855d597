/**
 * A fixed number of patient-view hooks for the typical example patient against the compiled service, for
 * counting instructions (the shared machine's timings swing too much to compare two builds by time):
 *   npm run build
 *   valgrind --tool=callgrind --smc-check=all-non-file node --single-threaded --import tsx bench/hook-loop.ts 300
 *   valgrind --tool=callgrind --smc-check=all-non-file node --single-threaded --import tsx bench/hook-loop.ts 1500
 * (instructions of the second run minus the first) / 1200 = instructions per hook, start-up and warm-up left out.
 *
 * BENCH_PRODUCTION=1 (issue #21 item 5): logging and authentication as in production: LOG_LEVEL=info to stdout
 * (send it to /dev/null), AUTH_MODE=on with a fresh ES384 client JWT per hook (the development issuer's key).
 * The tokens are signed before the hooks, always BENCH_MAX_HOOKS + 201 of them whatever the run's count, so the
 * difference of two runs holds the verification and none of the signing.
 * BENCH_ROOT: the checkout whose dist/ to run (another build, e.g. a `git worktree add /tmp/base <commit>`).
 * BENCH_CPU=1: prints the process's CPU time (user + system) per hook over the n counted hooks to stderr, for
 * comparing two builds interleaved on a machine where valgrind is too slow (bench/compare-builds.sh).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SignJWT, importJWK } from 'jose';

const root = resolve(process.env.BENCH_ROOT ?? resolve(import.meta.dirname, '..'));
const production = process.env.BENCH_PRODUCTION === '1';
const { buildApp } = await import(resolve(root, 'dist/src/app.js'));
const { loadConfig } = await import(resolve(root, 'dist/src/config.js'));
const { prefetchFromBundle } = await import(resolve(root, 'dist/src/examples/example-patients.js'));
const dir = mkdtempSync(join(tmpdir(), 'evh-'));
const config = loadConfig({
  LOG_LEVEL: production ? 'info' : 'silent',
  AUTH_MODE: production ? 'on' : 'off',
  ...(production ? { DEV_TRUST: '1', PUBLIC_BASE_URL: 'http://localhost:3000' } : {}),
  RATE_LIMIT: 'off',
  FEEDBACK_FILE: join(dir, 'f.jsonl'),
});
const app = buildApp({ config, clock: () => new Date('2026-11-23T09:00:00Z') });
await app.ready();
const bundle = JSON.parse(readFileSync(resolve(root, 'cds-hooks/examples/sle-child-likely.json'), 'utf8'));
const payload = JSON.stringify({ hook: 'patient-view', hookInstance: '0b6d1c53-5d7c-4a7e-9e43-3f1e1f7f6a10', context: { userId: 'Practitioner/x', patientId: 'sle-child-likely' }, prefetch: prefetchFromBundle(bundle) });
const n = Number(process.argv[2] ?? 0);
const tokens: string[] = [];
if (production) {
  const jwk = JSON.parse(readFileSync(resolve(root, 'config/dev-issuer.private.jwk.json'), 'utf8'));
  const key = await importJWK(jwk, 'ES384');
  const total = Number(process.env.BENCH_MAX_HOOKS ?? 1500) + 201;
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < total; i++) {
    tokens.push(
      await new SignJWT({ iss: 'urn:trialmatch-cds:development-ehr', sub: 'bench', aud: 'http://localhost:3000/cds-services/trialmatch-sle', jti: randomUUID(), iat: now, exp: now + 240 })
        .setProtectedHeader({ alg: 'ES384', kid: jwk.kid, typ: 'JWT' })
        .sign(key),
    );
  }
}
let next = 0;
const call = (): ReturnType<typeof app.inject> =>
  app.inject({
    method: 'POST',
    url: '/cds-services/trialmatch-sle',
    headers: { 'content-type': 'application/json', ...(production ? { authorization: `Bearer ${tokens[next++]}` } : {}) },
    payload,
  });
const first = await call(); if (first.statusCode !== 200) { console.error(first.body); process.exit(1); }
for (let i = 0; i < 200; i++) await call();
const cpu = process.cpuUsage();
for (let i = 0; i < n; i++) await call();
if (process.env.BENCH_CPU === '1') {
  const used = process.cpuUsage(cpu);
  process.stderr.write(`cpu-us-per-hook ${((used.user + used.system) / n).toFixed(0)}\n`);
}
await app.close();
