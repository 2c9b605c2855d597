/**
 * npm run soak (issue #6): holds the service at full load for a few minutes with a mix of good and bad
 * requests, with client authentication on, and reports requests served, answers by status and by whether
 * each was the one expected, latency (p50, p99) and the service's resident memory at the start and the end.
 *
 * The service runs as its own process (node src/server.ts, the example trust file, the development issuer's
 * key signing one fresh token per request); a local FHIR server double answers the fhirServer calls.
 * Everything listens on 127.0.0.1 only.
 *
 * `npm run soak -- --replicas 2` (issue #12 item 4): the same mix against two service processes sharing one
 * throwaway PostgreSQL (DATABASE_URL; test/support/postgres.ts: TEST_DATABASE_URL, Docker, or Debian's
 * binaries), reached under one public name as behind a load balancer: half the connections on each, a card
 * rendered by one replica given feedback on either, a token used on one replayed on the other. Reports
 * status counts, p99 and RSS per replica.
 *
 * Env: SOAK_SECONDS (default 180), SOAK_CONNECTIONS (default 32, shared by the replicas), SOAK_PORT
 * (default 39xxx, random; replica i listens on SOAK_PORT + i).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { startTestPostgres, type TestPostgres } from '../test/support/postgres.js';
import { createDatabase } from '../test/support/replica.js';

const ROOT = resolve(import.meta.dirname, '..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 32);
const PORT = Number(process.env.SOAK_PORT ?? 39000 + Math.floor(Math.random() * 900));
const replicasArg = process.argv.indexOf('--replicas');
const REPLICAS = replicasArg >= 0 ? Number(process.argv[replicasArg + 1]) : 1;
if (!Number.isInteger(REPLICAS) || REPLICAS < 1 || REPLICAS > 8) throw new Error('--replicas takes a number from 1 to 8');
const urlOf = (i: number): string => `http://127.0.0.1:${PORT + i}`;
const BASE = urlOf(0);
/** The URL tokens name (aud): the one replica, or, with several, the name a load balancer would give them. */
const PUBLIC = REPLICAS > 1 ? 'http://soak.replicas.test' : BASE;
const BODY_LIMIT = 256 * 1024;
const log = (line: string): void => console.log(line);
const mb = (kb: number): number => Math.round(kb / 1024);

// --- the development issuer's key, signing synchronously (autocannon's setupRequest is synchronous) ---
const trust = JSON.parse(readFileSync(resolve(ROOT, 'config', 'trust.example.json'), 'utf8')) as { issuers: { issuer: string; devTokenEndpoint?: boolean; privateJwkFile?: string }[] };
const devIssuer = trust.issuers.find((i) => i.devTokenEndpoint);
if (!devIssuer?.privateJwkFile) throw new Error('config/trust.example.json has no development issuer');
const { '//': _c, ...jwk } = JSON.parse(readFileSync(resolve(ROOT, 'config', devIssuer.privateJwkFile), 'utf8')) as Record<string, string>;
const key: KeyObject = createPrivateKey({ key: jwk, format: 'jwk' });
const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
function token(path: string): string {
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: 'ES384', kid: jwk.kid, typ: 'JWT' })}.${b64({ iss: devIssuer!.issuer, sub: 'soak', aud: `${PUBLIC}${path}`, iat: now, exp: now + 30, jti: randomUUID() })}`;
  return `${head}.${sign('sha384', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

// --- the service, as its own process (one per replica, on one PostgreSQL when there are several) ---
let postgres: TestPostgres | undefined;
let sharedEnv: Record<string, string> = { FEEDBACK_FILE: resolve(ROOT, 'data', `soak-feedback-${process.pid}.jsonl`) };
if (REPLICAS > 1) {
  const started = await startTestPostgres();
  if ('unavailable' in started) throw new Error(`--replicas needs PostgreSQL: ${started.unavailable}`);
  postgres = started;
  sharedEnv = { DATABASE_URL: await createDatabase(started.url, `soak_${process.pid}`), SUPPRESSION_SECRET: `soak-${randomUUID()}`, PUBLIC_BASE_URL: PUBLIC };
  log(`soak: ${REPLICAS} replicas on ${started.how}`);
}
const children: ChildProcess[] = Array.from({ length: REPLICAS }, (_, i) =>
  spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'src', 'server.ts')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(PORT + i), HOST: '127.0.0.1', LOG_LEVEL: 'warn', AUTH_MODE: 'on', DEV_TRUST: '1', DEMO: '1', RATE_LIMIT: 'off', PUBLIC_BASE_URL: BASE, BODY_LIMIT_BYTES: String(BODY_LIMIT), HOOK_TIMEOUT_MS: '5000', ...sharedEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  }),
);
const child = children[0]!;
const stop = (): void => {
  for (const c of children) c.kill('SIGTERM');
};
process.on('exit', stop);
function rssKb(c: ChildProcess = child): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c.pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}
for (let r = 0; r < REPLICAS; r++) {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${urlOf(r)}/healthz`)).ok) break;
    } catch {
      if (i > 150) throw new Error(`replica ${r} did not start`);
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

// --- inputs: the bundled examples' hook requests, a FHIR server double for the fetch path ---
const examples = ((await (await fetch(`${BASE}/examples`)).json()) as { patients: { id: string }[] }).patients.map((p) => p.id);
const hooks = await Promise.all(examples.map(async (id) => (await (await fetch(`${BASE}/examples/${id}/hook-request`)).json()) as Record<string, any>));
const child1 = hooks.find((h) => h.context.patientId === 'sle-child-likely') ?? hooks[0]!;
const fhirResources = Object.values(child1.prefetch as Record<string, any>).flatMap((v) => (v?.resourceType === 'Bundle' ? (v.entry ?? []).map((e: any) => e.resource) : v ? [v] : []));
const fhir = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').filter(Boolean);
  res.setHeader('content-type', 'application/fhir+json');
  if (parts.at(-2) === 'Patient') return res.end(JSON.stringify(fhirResources.find((r: any) => r.resourceType === 'Patient')));
  const type = parts.at(-1);
  res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: fhirResources.filter((r: any) => r.resourceType === type).map((resource: any) => ({ resource })) }));
});
await new Promise<void>((r) => fhir.listen(0, '127.0.0.1', () => r()));
const fhirBase = `http://127.0.0.1:${(fhir.address() as AddressInfo).port}/fhir`;

// --- the mix: each scenario with its weight and the status it must get ---
interface Built { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: string }
const json = { 'content-type': 'application/json' };
const SERVICE = '/cds-services/trialmatch-sle';
const auth = (path: string): Record<string, string> => ({ authorization: `Bearer ${token(path)}` });
const fresh = (h: Record<string, any>): Record<string, any> => ({ ...h, hookInstance: randomUUID() });
const replayed = token('/cds-services');
await fetch(`${BASE}/cds-services`, { headers: { authorization: `Bearer ${replayed}` } }); // its one good use
// A card to give feedback on from the first request: unknown cards are a 404 (issue #12 item 3).
let lastCard: string = (
  (await (await fetch(`${BASE}${SERVICE}`, { method: 'POST', headers: { ...json, ...auth(SERVICE) }, body: JSON.stringify(fresh(child1)) })).json()) as { cards: { uuid: string }[] }
).cards[0]!.uuid;
const hostileHook = (): string => {
  const h = structuredClone(child1);
  h.hookInstance = randomUUID();
  const obs = h.prefetch.observations.entry;
  obs[Math.floor(Math.random() * obs.length)].resource.valueQuantity = { value: 'NaN', unit: 'furlong' };
  obs.push({ resource: { resourceType: 'Observation', id: obs[0].resource.id, code: { coding: [null], text: {} }, effectiveDateTime: '9999-12-31' } });
  return JSON.stringify(h);
};
const scenarios: { name: string; weight: number; expect: number; build: () => Built }[] = [
  { name: 'hook, prefetch', weight: 40, expect: 200, build: () => ({ method: 'POST', path: SERVICE, headers: { ...json, ...auth(SERVICE) }, body: JSON.stringify(fresh(hooks[Math.floor(Math.random() * hooks.length)]!)) }) },
  { name: 'hook, FHIR server fetch', weight: 10, expect: 200, build: () => ({ method: 'POST', path: SERVICE, headers: { ...json, ...auth(SERVICE) }, body: JSON.stringify({ hook: 'patient-view', hookInstance: randomUUID(), fhirServer: fhirBase, context: child1.context }) }) },
  { name: 'discovery', weight: 10, expect: 200, build: () => ({ method: 'GET', path: '/cds-services', headers: auth('/cds-services') }) },
  { name: 'feedback', weight: 5, expect: 200, build: () => ({ method: 'POST', path: `${SERVICE}/feedback`, headers: { ...json, ...auth(`${SERVICE}/feedback`) }, body: JSON.stringify({ feedback: [{ card: lastCard, outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }] }) }) },
  { name: 'hostile FHIR data', weight: 5, expect: 200, build: () => ({ method: 'POST', path: SERVICE, headers: { ...json, ...auth(SERVICE) }, body: hostileHook() }) },
  { name: 'no token', weight: 5, expect: 401, build: () => ({ method: 'POST', path: SERVICE, headers: json, body: JSON.stringify(fresh(child1)) }) },
  { name: 'replayed token', weight: 5, expect: 401, build: () => ({ method: 'GET', path: '/cds-services', headers: { authorization: `Bearer ${replayed}` } }) },
  { name: 'bad JSON', weight: 5, expect: 400, build: () => ({ method: 'POST', path: SERVICE, headers: { ...json, ...auth(SERVICE) }, body: '{"hook": "patient-view", "context": ' }) },
  { name: 'another patient', weight: 5, expect: 400, build: () => ({ method: 'POST', path: SERVICE, headers: { ...json, ...auth(SERVICE) }, body: JSON.stringify({ ...fresh(child1), context: { patientId: 'someone-else' } }) }) },
  { name: 'fhirServer not allowed', weight: 5, expect: 403, build: () => ({ method: 'POST', path: SERVICE, headers: { ...json, ...auth(SERVICE) }, body: JSON.stringify({ hook: 'patient-view', hookInstance: randomUUID(), fhirServer: 'http://169.254.169.254/latest', context: child1.context }) }) },
  { name: 'too large', weight: 3, expect: 413, build: () => ({ method: 'POST', path: SERVICE, headers: { ...json, ...auth(SERVICE) }, body: JSON.stringify({ ...fresh(child1), padding: 'x'.repeat(BODY_LIMIT + 1000) }) }) },
  { name: 'unknown service', weight: 2, expect: 404, build: () => ({ method: 'POST', path: '/cds-services/nope', headers: { ...json, ...auth('/cds-services/nope') }, body: JSON.stringify(fresh(child1)) }) },
];
const totalWeight = scenarios.reduce((n, s) => n + s.weight, 0);
const pick = (): (typeof scenarios)[number] => {
  let r = Math.random() * totalWeight;
  for (const s of scenarios) if ((r -= s.weight) < 0) return s;
  return scenarios[0]!;
};
type Outcomes = Map<string, { sent: number; asExpected: number; other: Record<number, number> }>;
const newOutcomes = (): Outcomes => new Map(scenarios.map((sc) => [sc.name, { sent: 0, asExpected: 0, other: {} }]));

// --- the run: one autocannon per replica, the connections shared between them ---
const percentile = (sorted: number[], p: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);
interface ReplicaRun {
  outcome: Outcomes;
  /** Measured here, from building each request to its answer (autocannon's own histogram is also shown). */
  latencies: number[];
  samples: number[];
}
const runs: ReplicaRun[] = children.map((c) => ({ outcome: newOutcomes(), latencies: [], samples: [rssKb(c)] }));
const sampler = setInterval(() => children.forEach((c, i) => runs[i]!.samples.push(rssKb(c))), 5000);
log(`soak: ${SECONDS} s, ${CONNECTIONS} connections, ${REPLICAS} replica(s) (pids ${children.map((c) => c.pid).join(', ')}) at ${children.map((_, i) => urlOf(i)).join(', ')}, RSS at start ${runs.map((r) => mb(r.samples[0]!)).join(', ')} MiB`);
const results = await Promise.all(
  runs.map((run, i) =>
    autocannon({
      url: urlOf(i),
      connections: Math.max(1, Math.round(CONNECTIONS / REPLICAS)),
      duration: SECONDS,
      timeout: 20,
      requests: [
        {
          setupRequest: (req: any, context: any) => {
            const sc = pick();
            context.scenario = sc.name;
            context.sentAt = performance.now();
            context.expect = sc.expect;
            const built = sc.build();
            return { ...req, method: built.method, path: built.path, headers: built.headers, body: built.body };
          },
          onResponse: (status: number, body: string, context: any) => {
            run.latencies.push(performance.now() - (context.sentAt as number));
            const o = run.outcome.get(context.scenario as string)!;
            o.sent++;
            if (status === context.expect) o.asExpected++;
            else o.other[status] = (o.other[status] ?? 0) + 1;
            if (context.scenario === 'hook, prefetch' && status === 200) {
              const m = /"uuid":"([0-9a-f-]{36})"/.exec(body);
              if (m) lastCard = m[1]!;
            }
          },
        },
      ],
    }),
  ),
);
clearInterval(sampler);
children.forEach((c, i) => runs[i]!.samples.push(rssKb(c)));

// --- the report, per replica ---
let unexpected = 0;
let failed = false;
results.forEach((result, i) => {
  const run = runs[i]!;
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, v]) => [code, (v as { count: number }).count]));
  const sorted = run.latencies.sort((a, b) => a - b);
  log('');
  log(`== replica ${i} (${urlOf(i)}, pid ${children[i]!.pid})`);
  log(`requests served: ${result.requests.total} in ${result.duration.toFixed(0)} s (${Math.round(result.requests.average)} req/s average)`);
  log(`answers by status: ${JSON.stringify(statuses)}`);
  // The service answers 413 as soon as the declared length is too large and closes the connection while the
  // client is still sending: autocannon counts those as connection errors.
  log(`connection errors: ${result.errors} (the 413s close the connection mid-upload), timeouts: ${result.timeouts}`);
  log(`latency (measured per request): p50 ${percentile(sorted, 50)} ms, p90 ${percentile(sorted, 90)} ms, p99 ${percentile(sorted, 99)} ms, max ${Math.round(sorted.at(-1) ?? 0)} ms`);
  log(`latency (autocannon): p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
  log(`service RSS: start ${mb(run.samples[0]!)} MiB, end ${mb(run.samples.at(-1)!)} MiB, peak ${mb(Math.max(...run.samples))} MiB`);
  log(`service RSS every 5 s (MiB): ${run.samples.map(mb).join(' ')}`);
  log('');
  log('| scenario | weight | sent | as expected | expected status | other statuses |');
  log('|---|---:|---:|---:|---:|---|');
  for (const sc of scenarios) {
    const o = run.outcome.get(sc.name)!;
    unexpected += o.sent - o.asExpected;
    log(`| ${sc.name} | ${sc.weight}% | ${o.sent} | ${o.asExpected} | ${sc.expect} | ${Object.keys(o.other).length ? JSON.stringify(o.other) : '-'} |`);
  }
  if (result.timeouts > 0 || statuses['500']) failed = true;
});
log('');
log(unexpected === 0 ? 'every answer was the expected one' : `${unexpected} unexpected answers`);
fhir.close();
stop();
await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
await postgres?.stop();
process.exit(unexpected === 0 && !failed ? 0 : 1);
