/**
 * A fixed number of patient-view hooks against the compiled service, for counting instructions and system
 * calls (the shared machine's timings swing too much to compare two builds by time). bench/instructions.sh
 * drives it under callgrind and strace for any checkouts in one command; that file holds its method. The
 * older figures of bench/README.md were counted by hand, the whole process instrumented:
 *   npm run build
 *   valgrind --tool=callgrind --smc-check=all-non-file node --single-threaded --import tsx bench/hook-loop.ts 300
 *   valgrind --tool=callgrind --smc-check=all-non-file node --single-threaded --import tsx bench/hook-loop.ts 1500
 * (instructions of the second run minus the first) / 1200 = instructions per hook, start-up and warm-up left out.
 *
 * BENCH_PRODUCTION=1 (issue #21 item 5): logging and authentication as in production: LOG_LEVEL=info to stdout
 * (send it to /dev/null), AUTH_MODE=on with a fresh ES384 client JWT per hook (the development issuer's key).
 * The tokens are signed before the hooks, always BENCH_MAX_HOOKS + BENCH_WARMUP + 1 of them whatever the run's
 * count, so the difference of two runs holds the verification and none of the signing.
 * BENCH_ROOT: the checkout whose dist/ to run (another build, e.g. a `git worktree add /tmp/base <commit>`).
 * BENCH_CPU=1: prints the process's CPU time (user + system) per hook over the n counted hooks to stderr, for
 * comparing two builds interleaved on a machine where valgrind is too slow (bench/compare-builds.sh).
 * BENCH_PATIENT=heavy: the largest Synthea bundle (BENCH_SYNTHEA_DIR, default ../shared/data/synthea beside the
 * checkout) with full prefetch instead of the typical example patient.
 * BENCH_WARMUP: hooks run before the n counted ones (200).
 * BENCH_REWARM: with BENCH_GATE, hooks run after the forced collection and before the gate (2000), so V8 has
 * optimised its hot code again (the collection throws it away) and the counted hooks are a warm service's.
 * BENCH_GATE=<path> (bench/instructions.sh): after the warm-up the loop creates <path>.ready and waits for
 * <path>.go before the n counted hooks, so valgrind's instrumentation can be switched on for them alone
 * (`--instr-atstart=no`, then `callgrind_control -i on <pid>`) or strace attached; with node --expose-gc the heap is
 * collected first.
 * BENCH_CPU_PROFILE=<file.cpuprofile>: a V8 CPU profile of the n counted hooks alone (not start-up or warm-up),
 * for bench/summarise-profile.ts.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Script } from 'node:vm';
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
/** The largest Synthea bundle (bench/fixtures.ts largestSynthea, read here so another checkout's dist/ is used). */
function heavyPatient(): { bundle: { entry?: { resource?: { resourceType?: string; id?: string } }[] }; patientId: string } {
  const dir = resolve(process.env.BENCH_SYNTHEA_DIR ?? resolve(root, '..', 'shared', 'data', 'synthea'));
  const [file] = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size);
  if (!file) throw new Error(`no Synthea bundles in ${dir}`);
  const bundle = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const patientId = bundle.entry?.find((e: { resource?: { resourceType?: string } }) => e.resource?.resourceType === 'Patient')?.resource?.id;
  if (typeof patientId !== 'string') throw new Error(`${file} has no Patient id`);
  return { bundle, patientId };
}
const patient =
  process.env.BENCH_PATIENT === 'heavy'
    ? heavyPatient()
    : { bundle: JSON.parse(readFileSync(resolve(root, 'cds-hooks/examples/sle-child-likely.json'), 'utf8')), patientId: 'sle-child-likely' };
const payload = JSON.stringify({ hook: 'patient-view', hookInstance: '0b6d1c53-5d7c-4a7e-9e43-3f1e1f7f6a10', context: { userId: 'Practitioner/x', patientId: patient.patientId }, prefetch: prefetchFromBundle(patient.bundle) });
const n = Number(process.argv[2] ?? 0);
const warmup = Number(process.env.BENCH_WARMUP ?? 200);
const tokens: string[] = [];
if (production) {
  const jwk = JSON.parse(readFileSync(resolve(root, 'config/dev-issuer.private.jwk.json'), 'utf8'));
  const key = await importJWK(jwk, 'ES384');
  const total = Number(process.env.BENCH_MAX_HOOKS ?? 1500) + warmup + Number(process.env.BENCH_REWARM ?? 2000) + 1;
  // exp 50 minutes ahead (under JWT_MAX_LIFETIME_SECONDS' 3600): the service checks exp against the wall clock,
  // and under valgrind a run takes minutes; a token that expired mid-run would be a cheap 401, not a hook.
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < total; i++) {
    tokens.push(
      await new SignJWT({ iss: 'urn:trialmatch-cds:development-ehr', sub: 'bench', aud: 'http://localhost:3000/cds-services/trialmatch-sle', jti: randomUUID(), iat: now, exp: now + 3000 })
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
for (let i = 0; i < warmup; i++) await call();
const gate = process.env.BENCH_GATE;
if (gate) {
  // With --expose-gc, every run starts its counted hooks from the same heap (just collected, then the same
  // BENCH_REWARM hooks), so two runs of different lengths differ by their hooks and not by where the warm-up
  // left the collector. The forced collection also throws away V8's optimised code (a `gc()` flushes it; the
  // collections a running service makes did not, bench/trace-opt.sh): with the counted hooks straight after it,
  // every run re-optimised its hot functions inside them: 61 TurboFan compiles in the 100 typical hooks after a
  // 2,000-hook warm-up, against 7 without the collection, which the difference of two runs counted as a hook's
  // cost. The re-warm hooks pay that again before the gate.
  (globalThis as { gc?: () => void }).gc?.();
  const rewarm = Number(process.env.BENCH_REWARM ?? 2000);
  for (let i = 0; i < rewarm; i++) await call();
  writeFileSync(`${gate}.ready`, String(process.pid));
  while (!existsSync(`${gate}.go`)) await new Promise((r) => setTimeout(r, 20));
}
const profileFile = process.env.BENCH_CPU_PROFILE;
const inspector = profileFile ? new Session() : undefined;
if (inspector) {
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.start');
}
// BENCH_MARK=<name>: a script of that file name compiled and run here, so a V8 log (`node --log-code`) shows
// where the counted hooks begin (its code-creation line names it): what TurboFan compiles after it is the
// counted hooks' (bench/trace-opt.sh).
if (process.env.BENCH_MARK) new Script('0', { filename: process.env.BENCH_MARK }).runInThisContext();
const cpu = process.cpuUsage();
// Every counted hook must be a real one: a 401 (expired token) or 503 would be counted as a much cheaper hook.
let refused = 0;
for (let i = 0; i < n; i++) if ((await call()).statusCode !== 200) refused++;
if (refused > 0) {
  console.error(`${refused} of ${n} counted hooks did not answer 200`);
  process.exitCode = 1;
}
if (inspector && profileFile) {
  const { profile } = await inspector.post('Profiler.stop');
  writeFileSync(profileFile, JSON.stringify(profile));
  inspector.disconnect();
}
if (process.env.BENCH_CPU === '1') {
  const used = process.cpuUsage(cpu);
  process.stderr.write(`cpu-us-per-hook ${((used.user + used.system) / n).toFixed(0)}\n`);
}
await app.close();
