/**
 * A peer comparison (issue #21 item 5: "at least 100x AHRQ CQL Services in one run"): the cost of one
 * patient-view hook with full prefetch, on the same patient, in TrialMatch CDS and in AHRQ CDS Connect CQL
 * Services (Apache-2.0), each as it runs in production, driven the same way in one run.
 *
 * The peer is not part of this repository; a developer gets it once, beside or anywhere:
 *   git clone https://github.com/AHRQ-CDS/AHRQ-CDS-Connect-CQL-SERVICES.git
 *   cd AHRQ-CDS-Connect-CQL-SERVICES && git checkout 72932fd && npm ci
 * and runs:
 *   PEER_DIR=/path/to/AHRQ-CDS-Connect-CQL-SERVICES npx tsx bench/peer-ahrq.ts
 *
 * Which peer service, and what is compared. CQL Services ships two CDS Hooks services. `statin-use` needs value
 * sets downloaded from VSAC with a UMLS API key at the first call, so it does not run offline; the other,
 * `cond-med-count-r4` (config/hooks/cond-med-count-r4.json, its CQL in config/libraries/cond-med-count-r4/),
 * runs offline on any FHIR R4 patient: it counts the confirmed Conditions and the MedicationRequests with
 * cql-execution over cql-exec-fhir and answers one card saying so. Its decision logic is far smaller than
 * ours (five trials' criteria with their trace), so this compares the cost of serving one patient-view hook
 * with full prefetch on the same patient, not the same rules. Each service gets the prefetch its own
 * discovery document asks for (CDS Hooks 2.0 §Prefetch Template), filled from the same FHIR bundle, as an EHR
 * would send it: the peer's template asks for Patient, Condition and MedicationRequest; ours for nine
 * searches. The body sizes are in the report.
 *
 * How each runs (production as shipped):
 *   peer  `node bin/www` in PEER_DIR (its `npm start`), NODE_ENV=production, its request log (morgan, one line
 *         a request) on stdout, which goes to /dev/null; it verifies no client JWT (its README says so) and is
 *         sent the same Authorization header as ours.
 *   ours  `node dist/src/server.js` (the production image's command, built here first), NODE_ENV=production:
 *         a trust file naming a bench EHR whose ES384 key this process makes, every hook with a fresh client JWT
 *         (signed before each load run, so the signing is not in the load generator's time), info logging to
 *         stdout (/dev/null), the embedded store's journal in a temporary folder, the request rate limit on
 *         with a quota no run reaches.
 * The floor of `npm run bench` (bench/serve.ts baseline: a bare fastify route parsing our body) runs beside
 * them: the peer's CPU per request over the floor's is the most any service that parses our body over HTTP
 * could show against the peer on this machine. A second floor (bench/serve.ts baseline-auth) also checks each
 * request's client JWT with jose, as CDS Hooks 2.0 asks of every service and ours does in production (ES384,
 * audience, expiry, a jti once), and nothing else: the peer's CPU over that floor's is the most any service
 * that authenticates its EHR and parses our body could show against the peer.
 * The processes run on the Node that runs this file, stay up for the whole run, and are driven in turn by
 * autocannon from this process (BENCH_CONNECTIONS connections, default 10): for each round, for each patient,
 * the peer, ours, the floor, then the floor with the token check, each a warm-up (PEER_WARMUP s, default 3) then a measured run (BENCH_DURATION s,
 * default 10); PEER_ROUNDS rounds (default 3). CPU per request is each process's own user + system CPU time
 * (/proc/<pid>/stat, all threads) over the measured run divided by the requests it served: on a machine
 * shared with the load generator, the steadier measure of cost than requests per second.
 *
 * Patients: the typical example patient (cds-hooks/examples/sle-child-likely, dates moved to today) and the
 * largest Synthea bundle (the heavy patient of `npm run bench`).
 *
 * Checks (the bench exits 1 when one fails): before loading, each service answers 200; the peer one card
 * whose text states the counts this file computes from the bundle (so it read the prefetch), ours at least
 * one card for the typical patient and a card list for the heavy one (no trial fits that Synthea patient;
 * `npm run bench` expects none either). Every load run must have no errors, timeouts or non-2xx answers.
 * A missed target is reported, not an exit code.
 *
 * Writes its section of bench/results.md (between `<!-- peer-ahrq: ... -->` and `<!-- /peer-ahrq -->`, which
 * `npm run bench` keeps) and prints it. Env: PEER_DIR (required), PEER_ROUNDS, PEER_WARMUP, BENCH_DURATION,
 * BENCH_CONNECTIONS; --no-write prints without writing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Bundle, Condition, Patient, Resource } from '@medplum/fhirtypes';
import { ROOT, bundleResources, largestSynthea, syntheaHookRequest, typicalExample, typicalHookRequest } from './fixtures.js';
import { SERVICE_PATH, buildOnce, postOnce, processCpuUs, runLoad, startTarget, stopChild, type LoadResult } from './http.js';
import { replaceMarkedSection } from './results-sections.js';
import { median } from './statistics.js';

const PEER_DIR = process.env.PEER_DIR ? resolve(process.env.PEER_DIR) : undefined;
const ROUNDS = Number(process.env.PEER_ROUNDS ?? 3);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.PEER_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const TARGET = 100;
const PEER_SERVICE = 'cond-med-count-r4';
const PEER_PATH = `/cds-services/${PEER_SERVICE}`;
const RESULTS_MD = join(import.meta.dirname, 'results.md');
const log = (line: string): void => console.log(line);
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(', ');

if (!PEER_DIR || !existsSync(join(PEER_DIR, 'bin', 'www')) || !existsSync(join(PEER_DIR, 'node_modules'))) {
  console.error('PEER_DIR must name a checkout of AHRQ CQL Services with its node_modules (see the header of bench/peer-ahrq.ts)');
  process.exit(2);
}

/** A free TCP port on the loopback interface (the services take theirs from PORT). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface Running {
  name: string;
  url: string;
  child: ChildProcess;
  stop: () => Promise<void>;
}

/** Starts a service as its own process, its stdout (the request and hook logs) to /dev/null, and waits until `readyPath` answers. */
async function startProcess(name: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, port: number, readyPath: string): Promise<Running> {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} at start`);
    try {
      if ((await fetch(`${url}${readyPath}`)).ok) break;
    } catch {
      if (i > 300) throw new Error(`${name} did not start`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = (): Promise<void> => stopChild(child, () => child.kill('SIGTERM'));
  return { name, url, child, stop };
}

// --- the bench EHR: an ES384 key of this run, trusted by our service through a trust file of its own ---
const work = mkdtempSync(join(tmpdir(), 'trialmatch-peer-'));
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const KID = `bench-${randomUUID().slice(0, 8)}`;
const ISSUER = 'urn:trialmatch-cds:bench-ehr';
writeFileSync(
  join(work, 'trust.json'),
  JSON.stringify({ issuers: [{ issuer: ISSUER, description: 'bench/peer-ahrq.ts: a key made for this run', jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES384', use: 'sig' }] } }] }),
);
const key: KeyObject = createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }));
const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A client JWT as CDS Hooks 2.0 §Trusting CDS Clients has the EHR send: ES384, aud the service's URL, a fresh jti. */
function token(aud: string): string {
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: 'ES384', kid: KID, typ: 'JWT' })}.${b64({ iss: ISSUER, sub: 'bench', aud, iat: now, exp: now + 600, jti: randomUUID() })}`;
  return `${head}.${sign('sha384', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
/**
 * Headers for each request of a load run, from tokens signed before it (`count` of them, for the run's
 * expected requests with a margin); past them, tokens are signed as they are needed and counted.
 */
function tokenPool(aud: string, count: number): { headers: () => Record<string, string>; signedDuringRun: () => number } {
  const tokens = Array.from({ length: count }, () => token(aud));
  let next = 0;
  let late = 0;
  return {
    headers: () => {
      const t = tokens[next++];
      if (t === undefined) late++;
      return { authorization: `Bearer ${t ?? token(aud)}` };
    },
    signedDuringRun: () => late,
  };
}

// --- the two services ---
const peerVersion = ((): string => {
  const pkg = JSON.parse(readFileSync(join(PEER_DIR, 'package.json'), 'utf8')) as { name: string; version: string };
  const head = existsSync(join(PEER_DIR, '.git')) ? readGitHead(PEER_DIR) : undefined;
  return `${pkg.name} ${pkg.version}${head ? ` at ${head.slice(0, 7)}` : ''}`;
})();
function readGitHead(dir: string): string | undefined {
  const head = readFileSync(join(dir, '.git', 'HEAD'), 'utf8').trim();
  if (!head.startsWith('ref: ')) return head;
  const ref = join(dir, '.git', head.slice(5));
  return existsSync(ref) ? readFileSync(ref, 'utf8').trim() : undefined;
}

buildOnce();
const peerPort = await freePort();
const ourPort = await freePort();
const OUR_BASE = `http://127.0.0.1:${ourPort}`;
const OUR_AUD = `${OUR_BASE}${SERVICE_PATH}`;
log(`peer: ${peerVersion} in PEER_DIR; ours: dist/ of this checkout; Node ${process.version}; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}); load average ${load()}`);
const peer = await startProcess('AHRQ CQL Services', ['bin/www'], PEER_DIR, { NODE_ENV: 'production' }, peerPort, '/cds-services');
const ours = await startProcess(
  'TrialMatch CDS',
  ['dist/src/server.js'],
  ROOT,
  {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    // Whatever the developer's shell holds, production's own settings: no development trust or demo, auth on.
    DEV_TRUST: '',
    DEMO: '',
    AUTH_MODE: 'on',
    RATE_LIMIT: '',
    TRUST_CONFIG: join(work, 'trust.json'),
    PUBLIC_BASE_URL: OUR_BASE,
    METRICS_TOKEN: randomUUID(),
    LOG_LEVEL: 'info',
    FEEDBACK_FILE: join(work, 'feedback.jsonl'),
    RATE_LIMIT_PER_MINUTE: '100000000',
  },
  ourPort,
  '/healthz',
);
// The floor of `npm run bench` (bench/serve.ts baseline): a bare fastify route that parses our body and answers
// no cards. The peer's CPU per request over the floor's is the most any service reached over HTTP with that
// body could show against the peer on this machine.
const floor = await startTarget('baseline');
// The floor with the client JWT checked as every CDS service must: the same key as our service trusts.
const floorAuth = await startTarget('baseline-auth', { BENCH_FLOOR_JWKS: JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES384', use: 'sig' }] }) });
const FLOOR_AUTH_AUD = `${floorAuth.url}${SERVICE_PATH}`;
const stopAll = async (): Promise<void> => {
  await Promise.all([peer.stop(), ours.stop(), floor.stop(), floorAuth.stop()]);
  rmSync(work, { recursive: true, force: true });
};

// --- the patients, as each service's prefetch template asks ---
interface PeerDescriptor {
  services: { id: string; prefetch?: Record<string, string> }[];
}
const peerTemplate = ((await (await fetch(`${peer.url}/cds-services`)).json()) as PeerDescriptor).services.find((s) => s.id === PEER_SERVICE)?.prefetch;
if (!peerTemplate) throw new Error(`the peer has no ${PEER_SERVICE} service with a prefetch template`);

/** The peer's prefetch filled from a bundle: `Type/{{context.patientId}}` is the resource, `Type?patient=...` a searchset of that type. */
function peerPrefetch(resources: readonly Resource[]): Record<string, Resource | Bundle | null> {
  const out: Record<string, Resource | Bundle | null> = {};
  for (const [k, template] of Object.entries(peerTemplate!)) {
    const type = template.split(/[/?]/)[0]!;
    const matches = resources.filter((r) => r.resourceType === type);
    out[k] = template.startsWith(`${type}/`)
      ? (matches[0] ?? null)
      : { resourceType: 'Bundle', type: 'searchset', total: matches.length, entry: matches.map((resource) => ({ resource, search: { mode: 'match' } })) };
  }
  return out;
}

/** What the peer's card must say for these resources (its CQL's Summary), computed here from the same data. */
function peerExpectedDetail(resources: readonly Resource[]): string {
  const patient = resources.find((r): r is Patient => r.resourceType === 'Patient');
  const confirmed = resources.filter((r): r is Condition => r.resourceType === 'Condition' && (r.verificationStatus?.coding ?? []).some((c) => c.code === 'confirmed')).length;
  const requests = resources.filter((r) => r.resourceType === 'MedicationRequest').length;
  return `${patient?.name?.[0]?.given?.[0] ?? ''} has ${confirmed} confirmed conditions and ${requests} MedicationRequests.`;
}

/** The resources our prefetch carries (each search's matches and the Patient), for giving the peer the same patient. */
function prefetchResources(request: Record<string, unknown>): Resource[] {
  const prefetch = request.prefetch as Record<string, Resource | Bundle | null>;
  const seen = new Set<string>();
  const out: Resource[] = [];
  for (const v of Object.values(prefetch)) {
    const items = v?.resourceType === 'Bundle' ? ((v as Bundle).entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource) : [v];
    for (const r of items) {
      if (!r || seen.has(`${r.resourceType}/${r.id}`)) continue;
      seen.add(`${r.resourceType}/${r.id}`);
      out.push(r);
    }
  }
  return out;
}

interface Scenario {
  label: string;
  resources: number;
  ourBody: string;
  peerBody: string;
  peerDetail: string;
  ourCards: 'some' | 'any';
}
const now = new Date();
const typicalRequest = typicalHookRequest(now);
const typicalResources = prefetchResources(typicalRequest);
const heavy = largestSynthea();
const heavyResources = bundleResources(heavy.bundle);
const hookOf = (patientId: string, resources: readonly Resource[]): string =>
  JSON.stringify({ hook: 'patient-view', hookInstance: randomUUID(), context: { userId: 'Practitioner/example', patientId }, prefetch: peerPrefetch(resources) });
const scenarios: Scenario[] = [
  {
    label: `typical patient (${typicalExample().id})`,
    resources: typicalResources.length,
    ourBody: JSON.stringify(typicalRequest),
    peerBody: hookOf(typicalExample().id, typicalResources),
    peerDetail: peerExpectedDetail(typicalResources),
    ourCards: 'some',
  },
  {
    label: `heavy patient (Synthea ${heavy.file.split('_').slice(0, 2).join(' ')})`,
    resources: heavyResources.length,
    ourBody: JSON.stringify(syntheaHookRequest(heavy)),
    peerBody: hookOf(heavy.patientId, heavyResources),
    peerDetail: peerExpectedDetail(heavyResources),
    ourCards: 'any',
  },
];

// --- the checks: both answer 200, and evaluated ---
const failures: string[] = [];
for (const s of scenarios) {
  const p = await postOnce(peer.url, s.peerBody, { path: PEER_PATH, headers: { authorization: `Bearer ${token(`${peer.url}${PEER_PATH}`)}` } });
  const peerCards = (p.json as { cards?: { detail?: string }[] }).cards ?? [];
  if (p.status !== 200 || peerCards.length !== 1 || peerCards[0]?.detail !== s.peerDetail) failures.push(`${s.label}: the peer answered ${p.status} with ${JSON.stringify(p.json).slice(0, 300)}; expected one card "${s.peerDetail}"`);
  const o = await postOnce(ours.url, s.ourBody, { headers: { authorization: `Bearer ${token(OUR_AUD)}` } });
  const ourCards = (o.json as { cards?: unknown[] }).cards;
  if (o.status !== 200 || !Array.isArray(ourCards) || (s.ourCards === 'some' && ourCards.length === 0)) failures.push(`${s.label}: our service answered ${o.status} with ${JSON.stringify(o.json).slice(0, 300)}`);
  // The token-checking floor must really check: 200 with a fresh token, 401 with none and with the same one again.
  const fresh = token(FLOOR_AUTH_AUD);
  const statuses = [
    (await postOnce(floorAuth.url, s.ourBody, { headers: { authorization: `Bearer ${fresh}` } })).status,
    (await postOnce(floorAuth.url, s.ourBody, {})).status,
    (await postOnce(floorAuth.url, s.ourBody, { headers: { authorization: `Bearer ${fresh}` } })).status,
  ];
  if (statuses.join() !== '200,401,401') failures.push(`${s.label}: the floor with the token check answered ${statuses.join(', ')} to a fresh token, none and a replay; expected 200, 401, 401`);
  log(`${s.label}: peer ${p.status}, "${peerCards[0]?.detail ?? ''}"; ours ${o.status}, ${ourCards?.length ?? 0} cards; floor with the token check ${statuses.join(', ')}`);
}
if (failures.length > 0) {
  console.error(failures.join('\n'));
  await stopAll();
  process.exit(1);
}

// --- the load, interleaved: for each round and patient, the peer then ours ---
type Who = 'peer' | 'ours' | 'floor' | 'floor-auth';
interface Run {
  round: number;
  scenario: string;
  who: Who;
  load: LoadResult;
  lateTokens: number;
}
const runs: Run[] = [];
const loadBefore = loadavg();
/** Requests per second each service reached in the last run, to size the next token pool. */
const lastRate: Record<'peer' | 'ours' | 'floor-auth', number> = { peer: 20, ours: 300, 'floor-auth': 1000 };
/** The floor checks no token: it is sent one of the same length, the same one every time. */
const floorHeaders = { authorization: `Bearer ${token(`${floor.url}${SERVICE_PATH}`)}` };
async function drive(who: Who, s: Scenario, seconds: number): Promise<{ load: LoadResult; late: number }> {
  if (who === 'floor') return { load: await runLoad(floor, [s.ourBody], { durationS: seconds, connections: CONNECTIONS, headers: () => floorHeaders }), late: 0 };
  if (who === 'floor-auth') {
    const pool = tokenPool(FLOOR_AUTH_AUD, Math.ceil(lastRate[who] * seconds * 1.5) + 100);
    const result = await runLoad(floorAuth, [s.ourBody], { durationS: seconds, connections: CONNECTIONS, headers: pool.headers });
    lastRate[who] = Math.max(lastRate[who], result.requestsPerSec);
    return { load: result, late: pool.signedDuringRun() };
  }
  const target = who === 'peer' ? peer : ours;
  const path = who === 'peer' ? PEER_PATH : SERVICE_PATH;
  const pool = tokenPool(`${target.url}${path}`, Math.ceil(lastRate[who] * seconds * 1.5) + 100);
  const pid = target.child.pid!;
  const result = await runLoad({ url: target.url, stats: () => Promise.resolve({ cpuUs: processCpuUs(pid) }) }, [who === 'peer' ? s.peerBody : s.ourBody], { durationS: seconds, connections: CONNECTIONS, path, headers: pool.headers });
  lastRate[who] = Math.max(lastRate[who], result.requestsPerSec);
  return { load: result, late: pool.signedDuringRun() };
}
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of scenarios) {
      for (const who of ['peer', 'ours', 'floor', 'floor-auth'] as const) {
        await drive(who, s, WARMUP);
        const { load: l, late } = await drive(who, s, DURATION);
        runs.push({ round, scenario: s.label, who, load: l, lateTokens: late });
        log(`round ${round}, ${s.label}, ${who}: ${l.requestsPerSec.toFixed(1)} req/s, p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, ${((l.cpuUsPerRequest ?? NaN) / 1000).toFixed(2)} ms CPU/request${l.non2xx + l.errors + l.timeouts > 0 ? `, ${l.non2xx} non-2xx, ${l.errors} errors, ${l.timeouts} timeouts` : ''}${late > 0 ? `, ${late} tokens signed during the run` : ''}`);
        if (l.non2xx + l.errors + l.timeouts > 0) failures.push(`round ${round}, ${s.label}, ${who}: ${l.non2xx} non-2xx, ${l.errors} errors, ${l.timeouts} timeouts`);
      }
    }
  }
} finally {
  await stopAll();
}
const loadAfter = loadavg();

// --- the report ---
const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const cpuMs = (l: LoadResult): number => (l.cpuUsPerRequest ?? NaN) / 1000;
const kib = (body: string): string => `${fmt(Buffer.byteLength(body) / 1024, 1)} KiB`;
const lines: string[] = [
  '<!-- peer-ahrq: PEER_DIR=... npx tsx bench/peer-ahrq.ts -->',
  '## Against AHRQ CQL Services (issue #21 item 5)',
  '',
  `${now.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version} for both; load average (1, 5, 15 min) ${loadBefore.map((x) => x.toFixed(2)).join(', ')} before and ${loadAfter.map((x) => x.toFixed(2)).join(', ')} after. autocannon, ${CONNECTIONS} connections, ${DURATION} s measured after ${WARMUP} s of warm-up per run; ${ROUNDS} rounds, the peer, ours, the floor and the floor with the token check in turn.`,
  '',
  `The peer: AHRQ CDS Connect CQL Services (${peerVersion}, https://github.com/AHRQ-CDS/AHRQ-CDS-Connect-CQL-SERVICES at 72932fd), its \`${PEER_SERVICE}\` hook: the one of its two services that runs without a VSAC (UMLS) key; it counts the confirmed Conditions and the MedicationRequests in CQL and answers one card. Different rules from ours (five trials' criteria with their trace): this compares the cost of one patient-view hook with full prefetch on the same patient. Each gets the prefetch its discovery document asks for, from the same bundle; both as production runs them (the peer: \`node bin/www\`, NODE_ENV=production, its request log; ours: the compiled service, NODE_ENV=production, a fresh ES384 client JWT verified on every hook, info logging, the embedded store's writes). The peer verifies no JWT. Method and checks: the header of bench/peer-ahrq.ts.`,
  '',
  '| patient | round | peer req/s | peer p50 / p99 ms | peer CPU/req | ours req/s | ours p50 / p99 ms | ours CPU/req | floor req/s | floor CPU/req | floor + JWT req/s | floor + JWT CPU/req | req/s ratio | CPU ratio | peer / floor CPU | peer / floor + JWT CPU |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
interface Ratio {
  scenario: Scenario;
  rps: number[];
  cpu: number[];
  /** The peer's CPU per request over the floor's: the ceiling of the CPU ratio for our body over HTTP. */
  ceiling: number[];
  /** The same over the floor that also checks the client JWT: the ceiling for a service that authenticates its EHR. */
  authCeiling: number[];
}
const ratios: Ratio[] = [];
for (const s of scenarios) {
  const r: Ratio = { scenario: s, rps: [], cpu: [], ceiling: [], authCeiling: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const of = (who: Who): LoadResult => runs.find((x) => x.round === round && x.scenario === s.label && x.who === who)!.load;
    const [p, o, f, fa] = [of('peer'), of('ours'), of('floor'), of('floor-auth')];
    r.rps.push(o.requestsPerSec / p.requestsPerSec);
    r.cpu.push(cpuMs(p) / cpuMs(o));
    r.ceiling.push(cpuMs(p) / cpuMs(f));
    r.authCeiling.push(cpuMs(p) / cpuMs(fa));
    lines.push(`| ${s.label} | ${round} | ${fmt(p.requestsPerSec, 1)} | ${p.p50Ms} / ${p.p99Ms} | ${fmt(cpuMs(p), 2)} ms | ${fmt(o.requestsPerSec)} | ${o.p50Ms} / ${o.p99Ms} | ${fmt(cpuMs(o), 2)} ms | ${fmt(f.requestsPerSec)} | ${fmt(cpuMs(f), 2)} ms | ${fmt(fa.requestsPerSec)} | ${fmt(cpuMs(fa), 2)} ms | ${fmt(r.rps.at(-1)!, 1)}x | ${fmt(r.cpu.at(-1)!, 1)}x | ${fmt(r.ceiling.at(-1)!, 1)}x | ${fmt(r.authCeiling.at(-1)!, 1)}x |`);
  }
  ratios.push(r);
}
lines.push('', '| patient | resources | body: peer / ours | req/s ratio, median (min-max) | CPU per request ratio, median (min-max) | peer / floor CPU, median | peer / floor + JWT CPU, median | target | |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
const verdict = (x: number): string => (x >= TARGET ? 'holds' : '**misses**');
for (const r of ratios) {
  const range = (xs: number[]): string => `**${fmt(median(xs), 1)}x** (${fmt(Math.min(...xs), 1)}-${fmt(Math.max(...xs), 1)})`;
  lines.push(`| ${r.scenario.label} | ${r.scenario.resources} | ${kib(r.scenario.peerBody)} / ${kib(r.scenario.ourBody)} | ${range(r.rps)} | ${range(r.cpu)} | ${fmt(median(r.ceiling), 1)}x | ${fmt(median(r.authCeiling), 1)}x | >= ${TARGET}x | req/s ${verdict(median(r.rps))}, CPU ${verdict(median(r.cpu))} |`);
}
lines.push('', 'CPU/req is each process\'s own user + system CPU time (all threads) over the measured run, divided by the requests it served; the load generator shares the machine, so it is the steadier measure. The ratios are ours over the peer (req/s) and the peer over ours (CPU), round by round. The floor is `npm run bench`\'s (bench/serve.ts baseline: a bare fastify route that parses our body, same body limit and JSON settings, no auth, no log, answers no cards), driven in turn with the others: peer / floor CPU is the most a service paying only for HTTP and parsing our body would show against the peer on this machine. The floor + JWT (bench/serve.ts baseline-auth) is the same route that also checks each request\'s client JWT with jose as CDS Hooks 2.0 asks (ES384 signature, audience, expiry, a jti once), sent fresh tokens as ours is: peer / floor + JWT CPU is the most any service that authenticates its EHR and parses our body would show against the peer.');
if (failures.length > 0) lines.push('', `**Failed checks**: ${failures.join('; ')}`);
lines.push('<!-- /peer-ahrq -->');
const section = lines.join('\n');
log(`\n${section}`);
if (!process.argv.includes('--no-write')) writeFileSync(RESULTS_MD, replaceMarkedSection(existsSync(RESULTS_MD) ? readFileSync(RESULTS_MD, 'utf8') : '# Benchmark results\n', 'peer-ahrq', section));
if (failures.length > 0) process.exitCode = 1;
