/**
 * npm run soak (issue #6): holds the service at full load for a few minutes with a mix of good and bad
 * requests, with client authentication on, and reports requests served, answers by status and by whether
 * each was the one expected, latency (p50, p99) and the service's resident memory at the start and the end.
 *
 * The service runs as its own process (node src/server.ts, the example trust file, the development issuer's
 * key signing one fresh token per request); a local FHIR server double answers the fhirServer calls.
 * Everything listens on 127.0.0.1 only.
 *
 * Env: SOAK_SECONDS (default 180), SOAK_CONNECTIONS (default 32), SOAK_PORT (default 39xxx, random).
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import autocannon from 'autocannon';

const ROOT = resolve(import.meta.dirname, '..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 32);
const PORT = Number(process.env.SOAK_PORT ?? 39000 + Math.floor(Math.random() * 900));
const BASE = `http://127.0.0.1:${PORT}`;
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
  const head = `${b64({ alg: 'ES384', kid: jwk.kid, typ: 'JWT' })}.${b64({ iss: devIssuer!.issuer, sub: 'soak', aud: `${BASE}${path}`, iat: now, exp: now + 30, jti: randomUUID() })}`;
  return `${head}.${sign('sha384', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

// --- the service, as its own process ---
const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'src', 'server.ts')], {
  cwd: ROOT,
  env: { ...process.env, PORT: String(PORT), HOST: '127.0.0.1', LOG_LEVEL: 'warn', AUTH_MODE: 'on', DEV_TRUST: '1', RATE_LIMIT: 'off', PUBLIC_BASE_URL: BASE, BODY_LIMIT_BYTES: String(BODY_LIMIT), FEEDBACK_FILE: resolve(ROOT, 'data', `soak-feedback-${process.pid}.jsonl`), HOOK_TIMEOUT_MS: '5000' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const stop = (): void => {
  child.kill('SIGTERM');
};
process.on('exit', stop);
function rssKb(): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${BASE}/healthz`)).ok) break;
  } catch {
    if (i > 100) throw new Error('the service did not start');
  }
  await new Promise((r) => setTimeout(r, 200));
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
let lastCard: string = randomUUID();
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
const outcome = new Map<string, { sent: number; asExpected: number; other: Record<number, number> }>(scenarios.map((s) => [s.name, { sent: 0, asExpected: 0, other: {} }]));

// --- the run ---
/** Measured here, from building each request to its answer (autocannon's own histogram is also shown). */
const latencies: number[] = [];
const percentile = (sorted: number[], p: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);
const rssStart = rssKb();
const samples: number[] = [rssStart];
const sampler = setInterval(() => samples.push(rssKb()), 5000);
log(`soak: ${SECONDS} s, ${CONNECTIONS} connections, service pid ${child.pid} at ${BASE}, RSS at start ${mb(rssStart)} MiB`);
const result = await autocannon({
  url: BASE,
  connections: CONNECTIONS,
  duration: SECONDS,
  timeout: 20,
  requests: [
    {
      setupRequest: (req: any, context: any) => {
        const s = pick();
        context.scenario = s.name;
        context.sentAt = performance.now();
        context.expect = s.expect;
        const built = s.build();
        return { ...req, method: built.method, path: built.path, headers: built.headers, body: built.body };
      },
      onResponse: (status: number, body: string, context: any) => {
        latencies.push(performance.now() - (context.sentAt as number));
        const o = outcome.get(context.scenario as string)!;
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
});
clearInterval(sampler);
const rssEnd = rssKb();
samples.push(rssEnd);

// --- the report ---
const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, v]) => [code, (v as { count: number }).count]));
log('');
log(`requests served: ${result.requests.total} in ${result.duration.toFixed(0)} s (${Math.round(result.requests.average)} req/s average)`);
log(`answers by status: ${JSON.stringify(statuses)}`);
// The service answers 413 as soon as the declared length is too large and closes the connection while the
// client is still sending: autocannon counts those as connection errors.
log(`connection errors: ${result.errors} (the 413s close the connection mid-upload), timeouts: ${result.timeouts}`);
const sorted = latencies.sort((a, b) => a - b);
log(`latency (measured per request): p50 ${percentile(sorted, 50)} ms, p90 ${percentile(sorted, 90)} ms, p99 ${percentile(sorted, 99)} ms, max ${Math.round(sorted.at(-1) ?? 0)} ms`);
log(`latency (autocannon): p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
log(`service RSS: start ${mb(rssStart)} MiB, end ${mb(rssEnd)} MiB, peak ${mb(Math.max(...samples))} MiB`);
log(`service RSS every 5 s (MiB): ${samples.map(mb).join(' ')}`);
log('');
log('| scenario | weight | sent | as expected | expected status | other statuses |');
log('|---|---:|---:|---:|---:|---|');
let unexpected = 0;
for (const s of scenarios) {
  const o = outcome.get(s.name)!;
  unexpected += o.sent - o.asExpected;
  log(`| ${s.name} | ${s.weight}% | ${o.sent} | ${o.asExpected} | ${s.expect} | ${Object.keys(o.other).length ? JSON.stringify(o.other) : '-'} |`);
}
log('');
log(unexpected === 0 ? 'every answer was the expected one' : `${unexpected} unexpected answers`);
fhir.close();
stop();
process.exit(unexpected === 0 && result.timeouts === 0 && !statuses['500'] ? 0 : 1);
