/**
 * The population bench's end-to-end run in a process of its own (bench/population.ts runs it): the NDJSON files
 * screened from disk into a fresh embedded store with its journal, as `npm run screen` does, from the built
 * service (dist/). Prints one JSON line (ChildEndToEnd) with this process's peak RSS and the main thread's
 * heap at its largest (sampled every 100 ms: the rest of the RSS is the screening threads and native memory).
 *
 *   node --import tsx bench/population-e2e.ts <journal file> <threads> <ndjson file>...
 */
import { resolve } from 'node:path';
import { COHORT_NOW } from '../scripts/build-cohort.js';
import { MAPPINGS_DIR } from './fixtures.js';
import { endToEnd, loadBuild, type ChildEndToEnd } from './population.js';

const [journalFile, threads, ...files] = process.argv.slice(2);
if (!journalFile || !threads || files.length === 0) throw new Error('usage: population-e2e.ts <journal file> <threads> <ndjson file>...');
const build = await loadBuild(resolve(import.meta.dirname, '..'));
const mappings = build.loadMappings({ dir: MAPPINGS_DIR });
const statuses: Record<string, number> = {};
let mainHeap = 0;
const sample = setInterval(() => {
  mainHeap = Math.max(mainHeap, process.memoryUsage().heapTotal);
}, 100);
const run = await endToEnd(build, files, { mappings, now: COHORT_NOW, fhirServer: 'http://bench.example/fhir', jobId: 'bench-1', threads: Number(threads) }, journalFile, statuses);
clearInterval(sample);
const result: ChildEndToEnd = { ...run, statuses, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), mainHeapMiB: Math.round(mainHeap / 1024 ** 2) };
process.stdout.write(`${JSON.stringify(result)}\n`);
