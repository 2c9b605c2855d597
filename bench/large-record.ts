/**
 * Large records, fast (issue #21 item 4): the largest lupus-like record (scripts/build-large-record.ts: 2,900
 * Procedures, about 30,100 resources) on the real HAPI FHIR server (FHIR_BASE_URL, else the Maven-built test
 * server, as bench/fhir-path.ts starts it), read by the hook with no prefetch: alone, and 4 at once. Targets:
 * alone under 1.5 s, each of 4 at once under 4 s; the cards must equal those of full prefetch (checked for
 * every hook; the bench exits 1 when they differ or a target is missed).
 *
 * Other builds, interleaved in the same run (the developers' guide: old build, new build alternating, so both
 * see the same machine load and the same warm HAPI): BENCH_ROOTS lists checkouts with a dist/ built by
 * `npx tsc -p tsconfig.build.json`, e.g.
 *   git worktree add --detach /tmp/old 06fc1a5 && ln -s "$PWD/node_modules" /tmp/old/node_modules
 *   (cd /tmp/old && npx tsc -p tsconfig.build.json)
 *   BENCH_ROOTS=/tmp/old npx tsx bench/large-record.ts        (ROUNDS=5 by default)
 * Each round runs every build once alone, then 4 at once, in turn. The record is loaded once (skipped when
 * the server already holds it whole). Prints the load average before and after: the machine may be shared.
 * With BENCH_HAPI_PID (the HAPI JVM's pid, when FHIR_BASE_URL names a server on this machine) it also prints
 * the CPU time HAPI and this process spent per hook alone, which the machine's load changes less than the
 * wall time.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { LARGE_RECORD_ID, largeLupusRecord } from '../scripts/build-large-record.js';
import { obtainFhirServer } from './fhir-path.js';
import { ANCHOR, ROOT } from './fixtures.js';
import { median } from './statistics.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const TARGET_ALONE_MS = 1500;
const TARGET_FOUR_MS = 4000;
const log = (line: string): void => console.log(line);
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

/** User + system CPU time of a process on this machine, in ms (Linux /proc/<pid>/stat, clock ticks of 10 ms). */
function processCpuMs(pid: string): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
const HAPI_PID = process.env.BENCH_HAPI_PID;
const ownCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Build {
  label: string;
  hook: (extra: Record<string, unknown>) => Promise<{ ms: number; view: string }>;
  close: () => Promise<void>;
  /** The cards of full prefetch, as this build renders them. */
  full?: string;
  alone: number[];
  four: number[];
  /** CPU ms per hook alone: HAPI's (with BENCH_HAPI_PID) and this process's. */
  hapiCpu: number[];
  serviceCpu: number[];
  same: boolean;
}

interface AppLike {
  ready: () => Promise<unknown>;
  close: () => Promise<unknown>;
  inject: (req: { method: 'POST'; url: string; payload: unknown }) => Promise<{ statusCode: number; body: string; json: () => unknown }>;
}

/** A build's app: this checkout from source, another from its dist/ (built with tsconfig.build.json). */
async function startBuild(root: string): Promise<Build> {
  const own = resolve(root) === ROOT;
  const from = (path: string): string => (own ? resolve(ROOT, `${path}.ts`) : resolve(root, 'dist', `${path}.js`));
  const { buildApp } = (await import(from('src/app'))) as { buildApp: (o: unknown) => AppLike };
  const { loadConfig } = (await import(from('src/config'))) as { loadConfig: (env: Record<string, string>) => unknown };
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    AUTH_MODE: 'off',
    DEV_TRUST: '1',
    RATE_LIMIT: 'off',
    // Full prefetch of 30,000 resources is about 12 MB of JSON (the baseline only; the timed hooks send none).
    BODY_LIMIT_BYTES: String(64 * 1024 * 1024),
    FEEDBACK_FILE: join(mkdtempSync(join(tmpdir(), 'trialmatch-large-')), 'f.jsonl'),
  });
  const app = buildApp({ config, clock: () => ANCHOR });
  await app.ready();
  const hook = async (extra: Record<string, unknown>): Promise<{ ms: number; view: string }> => {
    const t = performance.now();
    const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: { hook: 'patient-view', hookInstance: crypto.randomUUID(), context: { userId: 'Practitioner/x', patientId: LARGE_RECORD_ID }, ...extra } });
    const ms = performance.now() - t;
    if (res.statusCode !== 200) throw new Error(`hook answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
    const cards = (res.json() as { cards: { summary: string; detail: string; extension?: Record<string, { status?: string }> }[] }).cards;
    // What a clinician sees, and each card's status, without the per-response uuids.
    return { ms, view: JSON.stringify(cards.map((c) => [c.summary, c.detail, Object.values(c.extension ?? {})[0]?.status])) };
  };
  return { label: own ? 'this checkout' : basename(root), hook, close: async () => void (await app.close()), alone: [], four: [], hapiCpu: [], serviceCpu: [], same: true };
}

/** Loads the record with transactions of 2,000 PUTs (HAPI holds a transaction in memory), unless it is there. */
async function loadRecord(baseUrl: string, resources: Resource[]): Promise<void> {
  const procedures = resources.filter((r) => r.resourceType === 'Procedure').length;
  const held = await fetch(`${baseUrl}/Procedure?patient=${LARGE_RECORD_ID}&_summary=count`, { headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' } })
    .then(async (r) => (r.ok ? ((await r.json()) as Bundle).total : undefined))
    .catch(() => undefined);
  if (held === procedures) {
    log(`the server already holds ${LARGE_RECORD_ID} (${held} Procedures): not loaded again`);
    return;
  }
  // The Patient first, so references to it resolve in the first transaction.
  const ordered = [...resources].sort((a, b) => Number(b.resourceType === 'Patient') - Number(a.resourceType === 'Patient'));
  const t0 = performance.now();
  for (let i = 0; i < ordered.length; i += 2000) {
    const tx: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: ordered.slice(i, i + 2000).map((resource) => ({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } })) };
    const res = await fetch(baseUrl, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(tx) });
    if (!res.ok) throw new Error(`loading failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  }
  log(`loaded in ${Math.round(performance.now() - t0)} ms`);
}

const record = largeLupusRecord();
const resources = (record.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
log(`record ${LARGE_RECORD_ID}: ${resources.length} resources, ${resources.filter((r) => r.resourceType === 'Procedure').length} Procedures`);
const server = await obtainFhirServer(log);
let failed = false;
try {
  await loadRecord(server.baseUrl, resources);
  const roots = (process.env.BENCH_ROOTS ?? '').split(',').filter(Boolean);
  const builds: Build[] = [];
  for (const root of [...roots, ROOT]) builds.push(await startBuild(root));
  const { prefetchFromBundle } = await import('../src/examples/example-patients.js');
  const prefetch = prefetchFromBundle(record);
  const fetched = { fhirServer: server.baseUrl };
  for (const b of builds) {
    b.full = (await b.hook({ prefetch })).view;
    await b.hook(fetched); // warm-up: HAPI's caches and the service's JIT
  }
  log(`load average before: ${load()}`);
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of builds) {
      const hapi0 = HAPI_PID ? processCpuMs(HAPI_PID) : 0;
      const own0 = ownCpuMs();
      const one = await b.hook(fetched);
      b.alone.push(one.ms);
      b.serviceCpu.push(ownCpuMs() - own0);
      if (HAPI_PID) b.hapiCpu.push(processCpuMs(HAPI_PID) - hapi0);
      b.same &&= one.view === b.full;
      const four = await Promise.all([1, 2, 3, 4].map(() => b.hook(fetched)));
      for (const h of four) {
        b.four.push(h.ms);
        b.same &&= h.view === b.full;
      }
    }
    log(`round ${r + 1}: ${builds.map((b) => `${b.label} alone ${Math.round(b.alone.at(-1)!)} ms, 4 at once slowest ${Math.round(Math.max(...b.four.slice(-4)))} ms`).join('; ')}`);
  }
  log(`load average after: ${load()}`);
  for (const b of builds) {
    log(`${b.label}: alone median ${Math.round(median(b.alone))} ms (${b.alone.map(Math.round).join(', ')}); 4 at once median ${Math.round(median(b.four))} ms, slowest ${Math.round(Math.max(...b.four))} ms; cards equal full prefetch: ${b.same ? 'yes' : 'NO'}`);
    log(`  CPU per hook alone, median: service ${Math.round(median(b.serviceCpu))} ms${HAPI_PID ? `, HAPI ${Math.round(median(b.hapiCpu))} ms (${b.hapiCpu.join(', ')})` : ''}`);
    await b.close();
  }
  const own = builds.at(-1)!;
  log(`targets (this checkout): alone median < ${TARGET_ALONE_MS} ms, each of 4 at once < ${TARGET_FOUR_MS} ms, cards equal`);
  failed = !own.same || median(own.alone) >= TARGET_ALONE_MS || Math.max(...own.four) >= TARGET_FOUR_MS;
} finally {
  await server.stop();
}
if (failed) process.exitCode = 1;
