/**
 * npm run bench (issue #5): the hook against its floor (a bare fastify route parsing the same body), for a
 * typical patient, the largest Synthea patient and the FHIR-fetch path; the evaluator alone and how it grows
 * with resources and trials; resident size over a 60-second full-load run. Prints a table and writes
 * bench/results.md and bench/results.json.
 *
 * Options: --quick (3 s loads, no soak), --no-soak, --no-fhir. Env: BENCH_DURATION (s, default 10),
 * BENCH_CONNECTIONS (default 10), FHIR_BASE_URL (use that server instead of starting HAPI).
 * --population runs only the population screening bench (bench/population.ts, issue #19), which writes its
 * own section of bench/results.md.
 */
import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAdversarialBench, runAdversarialBodiesBench } from './adversarial.js';
import { checkGolden, runEvaluatorBench, type EvaluatorResults } from './evaluator.js';
import { largestSynthea, syntheaHookRequest, typicalHookRequest } from './fixtures.js';
import { loadExample, obtainFhirServer, timeFhirPath, type SearchTiming } from './fhir-path.js';
import { postOnce, runLoad, startTarget, type LoadResult, type Target } from './http.js';
import { runPopulationBench } from './population.js';
import { keepMarkedSections } from './results-sections.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const DURATION = Number(process.env.BENCH_DURATION ?? (quick ? 3 : 10));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const WARMUP_S = quick ? 1 : 3;
const SOAK_S = 60;
const SOAK_WARMUP_S = 20;
const log = (line: string): void => console.log(line);
const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);

if (args.has('--population')) {
  await runPopulationBench(log);
  process.exit();
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  date: new Date().toISOString(),
};
log(`TrialMatch CDS bench: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.date}`);

// 1. The evaluator's answers must be the ones recorded before any optimisation.
const golden = checkGolden();
log(golden.ok ? `results check: unchanged for ${golden.checked} patients` : `results check: CHANGED\n  ${golden.differences.join('\n  ')}`);

// 2. The evaluator alone.
log('evaluator (no HTTP):');
const evaluator: EvaluatorResults = runEvaluatorBench(log, quick ? 400 : 1500);

// 2b. Adversarial record data (issue #12 item 2): the worst request time under it.
log('adversarial inputs (app.inject):');
const adversarial = await runAdversarialBench();
log(`  worst request ${adversarial.worstMs.toFixed(1)} ms`);
// 2c. Adversarial JSON bodies (issue #20 item 1): the worst /healthz latency while they arrive.
log('adversarial bodies (service process, auth on):');
const bodies = await runAdversarialBodiesBench();
log(`  worst /healthz ${bodies.worstHealthzMs.toFixed(1)} ms (idle ${bodies.idleHealthzMs.toFixed(1)} ms)`);

// 3. Hook vs floor, typical and heavy patient.
interface HttpRow {
  scenario: string;
  bodyKiB: number;
  baseline: LoadResult;
  service: LoadResult;
  ratio: number;
  target: number;
}
const now = new Date();
const synthea = largestSynthea();
const scenarios = [
  { scenario: 'typical patient (sle-child-likely), full prefetch', body: JSON.stringify(typicalHookRequest(now)), target: 0.6, expectCards: true },
  { scenario: `heavy patient (Synthea ${synthea.file.split('_').slice(0, 2).join(' ')}), full prefetch`, body: JSON.stringify(syntheaHookRequest(synthea)), target: 0.4, expectCards: false },
];
const httpRows: HttpRow[] = [];
const cpuText = (l: LoadResult): string => (l.cpuUsPerRequest === undefined ? 'n/a' : `${(l.cpuUsPerRequest / 1000).toFixed(2)} ms`);
const baseline = await startTarget('baseline');
const service = await startTarget('service');
try {
  for (const s of scenarios) {
    const check = await postOnce(service.url, s.body);
    const cards = (check.json as { cards?: unknown[] }).cards?.length ?? -1;
    if (check.status !== 200 || (s.expectCards ? cards < 1 : cards !== 0)) throw new Error(`${s.scenario}: the service answered ${check.status} with ${cards} cards`);
    const results: Partial<Record<Target['mode'], LoadResult>> = {};
    for (const t of [baseline, service]) {
      await runLoad(t, [s.body], { durationS: WARMUP_S, connections: CONNECTIONS });
      results[t.mode] = await runLoad(t, [s.body], { durationS: DURATION, connections: CONNECTIONS });
    }
    const row: HttpRow = { scenario: s.scenario, bodyKiB: Math.round(Buffer.byteLength(s.body) / 1024), baseline: results.baseline!, service: results.service!, ratio: results.service!.requestsPerSec / results.baseline!.requestsPerSec, target: s.target };
    httpRows.push(row);
    log(`${row.scenario} (${row.bodyKiB} KiB, ${cards} cards): baseline ${row.baseline.requestsPerSec.toFixed(0)} req/s (${cpuText(row.baseline)} CPU/req), service ${row.service.requestsPerSec.toFixed(0)} req/s (${cpuText(row.service)} CPU/req), ratio ${(100 * row.ratio).toFixed(0)}%`);
  }
} finally {
  await baseline.stop();
  await service.stop();
}

// 4. The FHIR-fetch path.
interface FhirRow {
  skipped?: string;
  server?: string;
  searches?: SearchTiming[];
  slowestSearch?: SearchTiming;
  parallelMs?: number;
  hookMs?: number;
  hookP90Ms?: number;
  rounds?: number;
  ratio?: number;
}
let fhir: FhirRow = { skipped: 'not run (--no-fhir)' };
if (!args.has('--no-fhir')) {
  let server: Awaited<ReturnType<typeof obtainFhirServer>> | undefined;
  try {
    server = await obtainFhirServer(log);
    if (server.startMs) log(`  HAPI ready in ${(server.startMs / 1000).toFixed(0)} s`);
    const patientId = await loadExample(server.baseUrl, now);
    const svc = await startTarget('service');
    try {
      const body = JSON.stringify({ hook: 'patient-view', hookInstance: '9a1c3e5f-7b2d-4f60-8e1a-3c5b7d9f1e2a', fhirServer: server.baseUrl, context: { userId: 'Practitioner/example', patientId } });
      const check = await postOnce(svc.url, body);
      if (check.status !== 200) throw new Error(`the hook answered ${check.status}: ${JSON.stringify(check.json).slice(0, 300)}`);
      // One request at a time: the latency an EHR sees, comparable with the searches timed one at a time.
      const hook = async (): Promise<number> => {
        const r = await postOnce(svc.url, body);
        if (r.status !== 200) throw new Error(`the hook answered ${r.status}`);
        return r.ms;
      };
      const t = await timeFhirPath(server.baseUrl, patientId, hook, quick ? 10 : 25, quick ? 5 : 10);
      const slowest = t.searches.reduce((a, b) => (b.medianMs > a.medianMs ? b : a));
      fhir = {
        server: server.started ? 'HAPI FHIR 8.8.0 test server (started by the bench)' : server.baseUrl,
        searches: t.searches,
        slowestSearch: slowest,
        parallelMs: t.parallelMedianMs,
        hookMs: t.hookMedianMs,
        hookP90Ms: t.hookP90Ms,
        rounds: t.rounds,
        ratio: t.hookMedianMs / slowest.medianMs,
      };
      log(`FHIR-fetch path: hook median ${t.hookMedianMs.toFixed(1)} ms, all searches in parallel ${t.parallelMedianMs.toFixed(1)} ms, slowest search alone (${slowest.key}) ${slowest.medianMs.toFixed(1)} ms, ratio ${fhir.ratio!.toFixed(2)}`);
    } finally {
      await svc.stop();
    }
  } catch (err) {
    fhir = { skipped: (err as Error).message };
    log(`FHIR-fetch path skipped: ${fhir.skipped}`);
  } finally {
    await server?.stop();
  }
}

// 5. Memory at full load.
interface SoakResult {
  seconds: number;
  warmupS: number;
  rssStartMiB: number;
  rssWarmMiB: number;
  rssEndMiB: number;
  growth: number;
  heapWarmMiB: number;
  heapEndMiB: number;
  load: LoadResult;
  samplesMiB: number[];
  heapSamplesMiB: number[];
}
let soak: SoakResult | undefined;
if (!quick && !args.has('--no-soak')) {
  const svc = await startTarget('service');
  try {
    const bodies = scenarios.map((s) => s.body);
    const start = await svc.stats();
    // A fresh process grows while V8 sizes its heap and the JIT settles: that is start-up, not growth per
    // request. Load it first, then measure a full SOAK_S seconds at the same load.
    await runLoad(svc, bodies, { durationS: SOAK_WARMUP_S, connections: CONNECTIONS });
    const warm = await svc.stats();
    const samples: number[] = [mb(warm.rss)];
    const heapSamples: number[] = [mb(warm.heapUsed)];
    const timer = setInterval(() => {
      void svc.stats().then((st) => {
        samples.push(mb(st.rss));
        heapSamples.push(mb(st.heapUsed));
      });
    }, 5000);
    const load = await runLoad(svc, bodies, { durationS: SOAK_S, connections: CONNECTIONS });
    clearInterval(timer);
    const end = await svc.stats();
    samples.push(mb(end.rss));
    heapSamples.push(mb(end.heapUsed));
    soak = {
      seconds: SOAK_S,
      warmupS: SOAK_WARMUP_S,
      rssStartMiB: mb(start.rss),
      rssWarmMiB: mb(warm.rss),
      rssEndMiB: mb(end.rss),
      growth: end.rss / warm.rss - 1,
      heapWarmMiB: mb(warm.heapUsed),
      heapEndMiB: mb(end.heapUsed),
      load,
      samplesMiB: samples,
      heapSamplesMiB: heapSamples,
    };
    log(`soak ${SOAK_S} s after ${SOAK_WARMUP_S} s warm-up: RSS ${soak.rssStartMiB} MiB at start, ${soak.rssWarmMiB} MiB warm, ${soak.rssEndMiB} MiB at the end (${(100 * soak.growth).toFixed(1)}%); heap ${soak.heapWarmMiB} -> ${soak.heapEndMiB} MiB`);
  } finally {
    await svc.stop();
  }
}

// 6. Report.
const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
const ms = (x: number): string => (x < 10 ? x.toFixed(2) : x.toFixed(0));
const verdict = (ok: boolean): string => (ok ? 'holds' : '**misses**');
const lines: string[] = [];
lines.push('# Benchmark results', '');
lines.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Node ${machine.node}; ${machine.date}.`);
lines.push(`Load: autocannon, ${CONNECTIONS} connections, ${DURATION} s per target after a ${WARMUP_S} s warm-up; service and baseline each in their own process.`, '');
lines.push(`Results check (evaluator output identical to bench/expected-evaluations.json, ${golden.checked} patients): ${golden.ok ? 'unchanged' : `**CHANGED**: ${golden.differences.join('; ')}`}`, '');
lines.push('## Adversarial inputs (issue #12)', '');
lines.push(`Worst request time under the adversarial record data (bench/adversarial.ts): ${adversarial.worstMs.toFixed(1)} ms.`, '');
lines.push('| input | path | status | ms | /healthz after, ms |', '| --- | --- | --- | --- | --- |');
for (const r of adversarial.rows) lines.push(`| ${r.kind} | ${r.path} | ${r.status} | ${r.ms.toFixed(1)} | ${r.healthzMs.toFixed(1)} |`);
lines.push('');
lines.push('## Adversarial JSON bodies (issue #20 item 1)', '');
lines.push(
  `Worst /healthz latency while adversarial bodies of ${(bodies.rows[0]?.bytes ?? 0) / 1048576 >= 1 ? `about ${Math.round((bodies.rows[0]?.bytes ?? 0) / 1048576)} MiB` : 'under 1 MiB'} arrive (bench/adversarial.ts; the service in its own process, auth on, /healthz asked one call after another from a worker thread): ${bodies.worstHealthzMs.toFixed(1)} ms (idle, the second before: ${bodies.idleHealthzMs.toFixed(1)} ms).`,
  '',
);
lines.push('| body | caller | status | /healthz worst, ms | /healthz calls |', '| --- | --- | --- | --- | --- |');
for (const r of bodies.rows) lines.push(`| ${r.kind} | ${r.caller} | ${r.status} | ${r.healthzWorstMs.toFixed(1)} | ${r.healthzCalls} |`);
lines.push('');
lines.push('## Hook vs floor', '');
lines.push('| scenario | body | floor req/s | floor p50 / p99 ms | floor CPU/req | hook req/s | hook p50 / p99 ms | hook CPU/req | hook / floor | target | |');
lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of httpRows) {
  lines.push(`| ${r.scenario} | ${r.bodyKiB} KiB | ${r.baseline.requestsPerSec.toFixed(0)} | ${r.baseline.p50Ms} / ${r.baseline.p99Ms} | ${cpuText(r.baseline)} | ${r.service.requestsPerSec.toFixed(0)} | ${r.service.p50Ms} / ${r.service.p99Ms} | ${cpuText(r.service)} | ${pct(r.ratio)} | >= ${pct(r.target)} | ${verdict(r.ratio >= r.target)} |`);
}
lines.push('', 'hook / floor is the ratio of requests per second. CPU/req is each process\'s own CPU time (user + system) per request served: the load generator shares the machine, so this is the steadier view of what a request costs the service.');
lines.push('', '## FHIR-fetch path (no prefetch)', '');
if (fhir.skipped) lines.push(`Skipped: ${fhir.skipped}`);
else {
  lines.push(`Server: ${fhir.server}. ${fhir.rounds} rounds after a warm-up, each: every prefetch search alone (with its next pages), then all of them at once, then one hook call without prefetch; medians.`, '');
  lines.push('| search (prefetch key) | resources | pages | median ms |', '| --- | --- | --- | --- |');
  for (const s of fhir.searches!) lines.push(`| ${s.key} | ${s.resources} | ${s.pages} | ${ms(s.medianMs)} |`);
  lines.push('', `All ${fhir.searches!.length} searches at once (a client of its own, in parallel): ${ms(fhir.parallelMs!)} ms; one after another they add up to ${ms(fhir.searches!.reduce((a, x) => a + x.medianMs, 0))} ms. Hook without prefetch: median ${ms(fhir.hookMs!)} ms, p90 ${ms(fhir.hookP90Ms!)} ms, ${ms(fhir.hookMs! - fhir.parallelMs!)} ms more than the parallel searches. Slowest single search: ${fhir.slowestSearch!.key} ${ms(fhir.slowestSearch!.medianMs)} ms; hook / slowest search **${fhir.ratio!.toFixed(2)}** (target <= 1.3: ${verdict(fhir.ratio! <= 1.3)}).`);
}
lines.push('', '## Evaluator alone (no HTTP)', '');
lines.push(`loadMappings (start-up, once): ${evaluator.loadMappingsMs.toFixed(0)} ms. Per patient: buildPatientRecord + evaluateTrials, median of interleaved batches.`, '');
lines.push('| case | resources | trials | median ms | vs first row |', '| --- | --- | --- | --- | --- |');
for (const r of [...evaluator.perPatient, ...evaluator.byResources, ...evaluator.byTrials]) {
  lines.push(`| ${r.label} | ${r.resources} | ${r.trials} | ${r.medianMs.toFixed(3)} | ${r.relative === undefined ? '' : `x${r.relative.toFixed(2)}`} |`);
}
const x16 = evaluator.byResources.filter((r) => r.label.includes('x16')).map((r) => r.relative ?? 0);
const t80 = evaluator.byTrials.at(-1)?.relative ?? 0;
lines.push('', `Growth: x16 Observations costs at most x${Math.max(...x16).toFixed(2)} (target <= ~20x: ${verdict(Math.max(...x16) <= 20)}); 16x the trials costs x${t80.toFixed(2)} (linear is x16).`);
lines.push('', 'The trial rows use copies of the five with changed ids, as the issue asks. A copy asks the same questions as its original, which the evaluator answers once per request (leaves with the same meaning share one result), so a copy costs only its own criteria, groups and trace; a trial asking new questions costs about a fifth of the 5-trial row.');
lines.push('', '## Memory at full load', '');
if (soak) {
  lines.push(`${soak.seconds} s at full load (${CONNECTIONS} connections, the two patients above in turn) after ${soak.warmupS} s at the same load to warm up: ${soak.load.requests} requests (${soak.load.requestsPerSec.toFixed(0)} req/s, ${soak.load.non2xx} non-2xx, ${soak.load.errors} errors).`);
  lines.push(`RSS ${soak.rssStartMiB} MiB before any load, ${soak.rssWarmMiB} MiB after the warm-up, ${soak.rssEndMiB} MiB at the end: ${(100 * soak.growth).toFixed(1)}% over the ${soak.seconds} s (target within 10%: ${verdict(Math.abs(soak.growth) <= 0.1)}).`);
  lines.push(`Samples every 5 s, RSS: ${soak.samplesMiB.join(', ')} MiB; V8 heap in use: ${soak.heapSamplesMiB.join(', ')} MiB.`);
} else lines.push('Not run (--quick or --no-soak).');
const failures = [...httpRows.flatMap((r) => [r.baseline, r.service]), ...(soak ? [soak.load] : [])].filter((l) => l.non2xx + l.errors + l.timeouts > 0);
if (failures.length) lines.push('', `**Some load runs had errors or non-2xx answers**: ${JSON.stringify(failures)}`);
const md = `${lines.join('\n')}\n`;
// The sections other benchmarks wrote (population, large records, group commit, hook cost) are kept.
const resultsMd = join(import.meta.dirname, 'results.md');
writeFileSync(resultsMd, keepMarkedSections(md, existsSync(resultsMd) ? readFileSync(resultsMd, 'utf8') : ''));
writeFileSync(join(import.meta.dirname, 'results.json'), `${JSON.stringify({ machine, connections: CONNECTIONS, durationS: DURATION, golden, http: httpRows, fhir, evaluator, soak }, null, 2)}\n`);
log(`\n${md}`);
if (!golden.ok) process.exitCode = 1;
