/**
 * The evaluator part of the bench on its own, for quick iterations and for profiling:
 *   tsx bench/evaluator-only.ts                  time it (the same rows as npm run bench)
 *   tsx bench/evaluator-only.ts --check          compare results with bench/expected-evaluations.json
 *   tsx bench/evaluator-only.ts --update-golden  record the current results (only on a known-good tree)
 *   node --cpu-prof --cpu-prof-dir=bench/profiles --import tsx bench/evaluator-only.ts --profile
 *                                               a long loop over the heavy patient, for --cpu-prof
 */
import { ANCHOR, MAPPINGS_DIR, largestSynthea, scaleObservations, typicalExample } from './fixtures.js';
import { checkGolden, evaluateBundleOnce, runEvaluatorBench, writeGolden } from './evaluator.js';
import { loadMappings } from '../src/mappings/load-mappings.js';

const args = new Set(process.argv.slice(2));
if (args.has('--update-golden')) {
  writeGolden();
  console.log('recorded bench/expected-evaluations.json');
} else if (args.has('--check')) {
  const res = checkGolden();
  console.log(res.ok ? `results unchanged (${res.checked} patients)` : `RESULTS CHANGED:\n  ${res.differences.join('\n  ')}`);
  process.exitCode = res.ok ? 0 : 1;
} else if (args.has('--profile')) {
  const mappings = loadMappings({ dir: MAPPINGS_DIR });
  const bundles = [typicalExample().bundle, scaleObservations(typicalExample().bundle, 16), largestSynthea().bundle, scaleObservations(largestSynthea().bundle, 4)];
  const until = performance.now() + 15_000;
  let n = 0;
  while (performance.now() < until) {
    for (const b of bundles) {
      evaluateBundleOnce(b, mappings, ANCHOR);
      n++;
    }
  }
  console.log(`${n} evaluations`);
} else {
  runEvaluatorBench((l) => console.log(l), Number(process.env.BENCH_MIN_MS ?? 1500));
}
