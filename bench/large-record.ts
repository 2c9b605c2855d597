/**
 * Large records, fast (issue #21 item 4): the largest lupus-like record (scripts/build-large-record.ts: 2,900
 * Procedures, about 30,100 resources) on the real HAPI FHIR server (FHIR_BASE_URL, else the Maven-built test
 * server, as bench/fhir-path.ts starts it), read by the hook with no prefetch: alone, and 4 at once. Targets:
 * alone under 1.5 s, each of 4 at once under 4 s; the cards must equal those of full prefetch.
 *   npx tsx bench/large-record.ts            (ROUNDS=3 by default)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { prefetchFromBundle } from '../src/examples/example-patients.js';
import { LARGE_RECORD_ID, largeLupusRecord } from '../scripts/build-large-record.js';
import { obtainFhirServer } from './fhir-path.js';
import { ANCHOR } from './fixtures.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const log = (line: string): void => console.log(line);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const record = largeLupusRecord();
const resources = (record.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
log(`record ${LARGE_RECORD_ID}: ${resources.length} resources, ${resources.filter((r) => r.resourceType === 'Procedure').length} Procedures`);
const server = await obtainFhirServer(log);
try {
  // The Patient first, then transactions of 2,000 PUTs (HAPI holds a transaction in memory).
  resources.sort((a, b) => Number(b.resourceType === 'Patient') - Number(a.resourceType === 'Patient'));
  const t0 = performance.now();
  for (let i = 0; i < resources.length; i += 2000) {
    const tx: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: resources.slice(i, i + 2000).map((resource) => ({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } })) };
    const res = await fetch(server.baseUrl, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(tx) });
    if (!res.ok) throw new Error(`loading failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  }
  log(`loaded in ${Math.round(performance.now() - t0)} ms`);
  const config = loadConfig({ LOG_LEVEL: 'silent', AUTH_MODE: 'off', DEV_TRUST: '1', RATE_LIMIT: 'off', FEEDBACK_FILE: join(mkdtempSync(join(tmpdir(), 'trialmatch-large-')), 'f.jsonl') });
  const app = buildApp({ config, clock: () => ANCHOR });
  await app.ready();
  const hook = async (extra: Record<string, unknown>): Promise<{ ms: number; view: string }> => {
    const t = performance.now();
    const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: { hook: 'patient-view', hookInstance: crypto.randomUUID(), context: { userId: 'Practitioner/x', patientId: LARGE_RECORD_ID }, ...extra } });
    const ms = performance.now() - t;
    if (res.statusCode !== 200) throw new Error(`hook answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
    const cards = res.json().cards as { summary: string; detail: string }[];
    return { ms, view: JSON.stringify(cards.map((c) => [c.summary, c.detail])) };
  };
  const full = await hook({ prefetch: prefetchFromBundle(record) });
  const fetched = { fhirServer: server.baseUrl };
  await hook(fetched); // warm-up: HAPI's caches and the service's JIT
  const alone: number[] = [];
  const together: number[] = [];
  let same = true;
  for (let r = 0; r < ROUNDS; r++) {
    const one = await hook(fetched);
    alone.push(one.ms);
    same &&= one.view === full.view;
    const four = await Promise.all([1, 2, 3, 4].map(() => hook(fetched)));
    for (const h of four) {
      together.push(h.ms);
      same &&= h.view === full.view;
    }
  }
  log(`hook with no prefetch, alone: median ${Math.round(median(alone))} ms (${alone.map(Math.round).join(', ')}); target < 1500`);
  log(`4 at once: slowest ${Math.round(Math.max(...together))} ms, median ${Math.round(median(together))} ms; target each < 4000`);
  log(`cards equal full prefetch: ${same ? 'yes' : 'NO'}`);
  await app.close();
} finally {
  await server.stop();
}
