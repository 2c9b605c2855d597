/**
 * Where the population job's memory goes (issue #19: peak RSS under 1 GiB): the end-to-end run of
 * bench/population-e2e.ts, with the main thread's memory sampled every 100 ms (process.memoryUsage(),
 * v8.getHeapStatistics()), its live heap after a full collection at the end (with --expose-gc), and optionally
 * a heap snapshot of the main thread at the end (the store holding every entry). With --trace-gc every isolate's
 * collections are printed (V8's flag, set here: on node's command line it is refused by worker threads), one
 * isolate per screening thread, which the caller sums. --build <checkout> measures another checkout's built
 * service (e.g. main before a change) the same way.
 *
 *   node --import tsx bench/population-memory.ts [--trace-gc] [--build <checkout>] <journal file> <threads> <snapshot file or -> <ndjson file>...
 *
 * Prints one JSON line at the end (the figures in MiB).
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { getHeapStatistics, setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { COHORT_NOW } from '../scripts/build-cohort.js';
import { MAPPINGS_DIR } from './fixtures.js';
import { loadBuild } from './population.js';

const args = process.argv.slice(2);
const traceGc = args[0] === '--trace-gc' ? Boolean(args.shift()) : false;
const buildRoot = args[0] === '--build' ? (args.splice(0, 2)[1] ?? '') : resolve(import.meta.dirname, '..');
const [journalFile, threads, snapshot, ...files] = args;
if (!journalFile || !threads || !snapshot || files.length === 0) throw new Error('usage: population-memory.ts [--trace-gc] [--build <checkout>] <journal file> <threads> <snapshot file or -> <ndjson file>...');
if (traceGc) setFlagsFromString('--trace-gc');
const mib = (n: number): number => Math.round(n / 1024 ** 2);
const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0, mallocedMemory: 0, rssMinusMainHeap: 0 };
const sample = (): void => {
  const m = process.memoryUsage();
  const h = getHeapStatistics();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
  peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
  peak.external = Math.max(peak.external, m.external);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  peak.mallocedMemory = Math.max(peak.mallocedMemory, h.malloced_memory);
  peak.rssMinusMainHeap = Math.max(peak.rssMinusMainHeap, m.rss - m.heapTotal);
};
const timer = setInterval(sample, 100);
const build = await loadBuild(buildRoot);
const mappings = build.loadMappings({ dir: MAPPINGS_DIR });
const statuses: Record<string, number> = {};
// As endToEnd does, but the store stays referenced to the end, so the snapshot and the live heap hold it.
rmSync(journalFile, { force: true });
const store = new build.EmbeddedScreeningStore();
const { journal } = await build.Journal.open(journalFile, (raw) => store.replay(raw));
store.attach(journal);
const t0 = performance.now();
const summary = await build.screenNdjsonFiles(files, { mappings, now: COHORT_NOW, fhirServer: 'http://bench.example/fhir', jobId: 'bench-1', threads: Number(threads) }, async (entries) => {
  for (const e of entries) statuses[e.status] = (statuses[e.status] ?? 0) + 1;
  await store.put(entries);
});
const wallS = (performance.now() - t0) / 1000;
journal.close();
clearInterval(timer);
sample();
setFlagsFromString('--expose-gc');
(runInNewContext('gc') as () => void)();
const live = process.memoryUsage();
if (snapshot !== '-') writeHeapSnapshot(snapshot);
// Read after the figures, so the store is live until here.
const held = (await store.forTrial(mappings.trials[0]!.id)).length;
const out = {
  patients: summary.patients,
  wallS,
  peakRssMiB: mib(process.resourceUsage().maxRSS * 1024),
  sampledPeakMiB: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, mib(v)])),
  afterGcMiB: { heapUsed: mib(live.heapUsed), heapTotal: mib(live.heapTotal), rss: mib(live.rss) },
  statuses,
  held,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
