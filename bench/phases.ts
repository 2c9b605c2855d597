/**
 * Where one hook request's time goes, phase by phase, in-process and without HTTP: the body's JSON parse
 * (fastify's secure parser with the app's settings), the request schema, gathering (sanitising and indexing
 * the prefetch), evaluation, card rendering, and the response's JSON. For deciding what to optimise:
 *   tsx bench/phases.ts [ms per phase, default 1000]
 */
import { join } from 'node:path';
import sjson from 'secure-json-parse';
import { handlePatientView, type EngineDeps } from '../src/cds/handle-patient-view.js';
import { hookRequestSchema } from '../src/cds/hook-request.js';
import { renderCards } from '../src/cds/render-cards.js';
import { loadServiceDefinitions } from '../src/cds/service-definition.js';
import { gatherPatientData } from '../src/data/gather-patient-data.js';
import { PrefetchSource } from '../src/data/prefetch-source.js';
import { evaluateTrials } from '../src/engine/evaluate-trial.js';
import { loadMappings } from '../src/mappings/load-mappings.js';
import { NO_FHIR_SERVERS } from '../src/security/fhir-server-allowlist.js';
import { MAPPINGS_DIR, ROOT, largestSynthea, syntheaHookRequest, typicalHookRequest } from './fixtures.js';

const budgetMs = Number(process.argv[2] ?? 1000);
const mappings = loadMappings({ dir: MAPPINGS_DIR });
const [service] = loadServiceDefinitions(join(ROOT, 'cds-hooks'), mappings);
if (!service) throw new Error('no service');
const engine: EngineDeps = { mappings, fhir: { timeoutMs: 1000, maxPages: 1, maxResources: 1 }, publicBaseUrl: 'http://localhost:3000' };
const now = new Date();

/** Mean ms per call of an async or sync function, after a warm-up, over about budgetMs. */
async function time(fn: () => unknown): Promise<number> {
  for (let i = 0; i < 200; i++) await fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < budgetMs) {
    for (let i = 0; i < 20; i++) await fn();
    n += 20;
  }
  return (performance.now() - t0) / n;
}

for (const [label, request] of [
  ['typical', typicalHookRequest(now)],
  ['heavy (Synthea)', syntheaHookRequest(largestSynthea())],
] as const) {
  const text = JSON.stringify(request);
  const parsed = hookRequestSchema.parse(JSON.parse(text));
  const gathered = await gatherPatientData(service.prefetch, [new PrefetchSource(parsed.prefetch ?? undefined)], parsed.context.patientId);
  const { evaluations } = evaluateTrials(mappings.trials, gathered.record, now, mappings.engine);
  const cards = renderCards(mappings, evaluations, gathered.provenance, { publicBaseUrl: engine.publicBaseUrl, patientId: parsed.context.patientId });
  const rows: [string, number][] = [
    ['JSON.parse', await time(() => JSON.parse(text))],
    ['secure-json-parse (proto+constructor: error)', await time(() => sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }))],
    ['hook request schema (zod)', await time(() => hookRequestSchema.parse(JSON.parse(text)))],
    ['gather (sanitise + index)', await time(() => gatherPatientData(service.prefetch, [new PrefetchSource(parsed.prefetch ?? undefined)], parsed.context.patientId))],
    ['evaluate 5 trials', await time(() => evaluateTrials(mappings.trials, gathered.record, now, mappings.engine))],
    ['render cards', await time(() => renderCards(mappings, evaluations, gathered.provenance, { publicBaseUrl: engine.publicBaseUrl, patientId: parsed.context.patientId }))],
    ['response JSON.stringify', await time(() => JSON.stringify({ cards }))],
    ['handlePatientView (all of it)', await time(() => handlePatientView(service, parsed, engine, now, { fhirServers: NO_FHIR_SERVERS }))],
  ];
  console.log(`\n${label}: ${Math.round(text.length / 1024)} KiB in, ${Math.round(JSON.stringify({ cards }).length / 1024)} KiB out, ${cards.length} cards`);
  for (const [name, ms] of rows) console.log(`  ${name.padEnd(48)} ${(ms * 1000).toFixed(0).padStart(6)} µs`);
}
