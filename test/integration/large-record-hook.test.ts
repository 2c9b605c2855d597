/**
 * Large records from HAPI with no prefetch (issue #21 item 4): the largest lupus-like record
 * (scripts/build-large-record.ts: 2,900 Procedures, 3,000 MedicationRequests) loaded in the real HAPI FHIR
 * server gives, through the hook with fhirServer and no prefetch, the cards of full prefetch: the same trials,
 * statuses, summaries and details. Its Procedures are read through the code filter proven whole by its two
 * counts (none leaves the server), its MedicationRequests in 15 pages read side by side.
 *
 * The record keeps its Procedures and MedicationRequests and carries 2,400 vital signs instead of 24,000: the
 * Observation search filters by code, so the vital signs stay on the server whatever their number, and the
 * test loads in about a minute. Timing is the bench's (bench/large-record.ts): HOOK_TIMEOUT_MS is raised here
 * so a busy CI machine tests the equality, not its own load.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { largeLupusRecord } from '../../scripts/build-large-record.js';
import { postTransaction, toTransactionBundle } from '../../scripts/load-examples.js';
import { LogCapture, testApp } from '../support/app.js';
import { hookRequest, prefetchFor } from '../support/hook-request.js';
import { TOKEN, callHook, cardView, fhirAuthorization, fhirBaseUrl, loggedSources, skipNote, startRecordingProxy } from './hapi-support.js';

const PATIENT = 'itest-large-lupus';
const COUNTS = { procedures: 2_900, observations: 2_400, medicationRequests: 3_000, immunizations: 200 } as const;

describe.skipIf(!fhirBaseUrl)(`the largest lupus-like record from HAPI FHIR with no prefetch${skipNote}`, () => {
  let app: FastifyInstance;
  let logs: LogCapture;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  const record: Bundle = largeLupusRecord(PATIENT, COUNTS);

  beforeAll(async () => {
    // The Patient first, then transactions of 2,000 PUTs (HAPI holds a transaction in memory).
    const entries = [...(record.entry ?? [])].sort((a, b) => Number(b.resource?.resourceType === 'Patient') - Number(a.resource?.resourceType === 'Patient'));
    const t = performance.now();
    for (let i = 0; i < entries.length; i += 2000) {
      const response = await postTransaction(fhirBaseUrl, toTransactionBundle([{ resourceType: 'Bundle', type: 'collection', entry: entries.slice(i, i + 2000) }]));
      expect(response.type).toBe('transaction-response');
    }
    console.log(`[large record hook] ${entries.length} resources loaded in ${Math.round(performance.now() - t)} ms`);
    logs = new LogCapture();
    app = testApp({ logStream: logs }, { LOG_LEVEL: 'info', HOOK_TIMEOUT_MS: '60000', FHIR_TIMEOUT_MS: '30000' });
    await app.ready();
    proxy = await startRecordingProxy(fhirBaseUrl);
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    await proxy?.close();
  });

  it('gives the cards of full prefetch, reading no bulk Procedure and every MedicationRequest', async () => {
    const full = await callHook(app, hookRequest(PATIENT, { prefetch: prefetchFor(record) }));
    expect(full.statusCode, full.body).toBe(200);
    const expected = cardView(full.json().cards);
    expect(expected.length).toBeGreaterThan(0);

    const mark = logs.lines.length;
    const before = proxy.requests.length;
    const t = performance.now();
    const fetched = await callHook(app, hookRequest(PATIENT, { fhirServer: proxy.fhirBase, fhirAuthorization: fhirAuthorization(PATIENT) }));
    const ms = Math.round(performance.now() - t);
    expect(fetched.statusCode, fetched.body).toBe(200);
    const requests = proxy.requests.slice(before);
    console.log(`[large record hook] no prefetch: ${ms} ms, ${requests.length} FHIR requests`);

    expect(cardView(fetched.json().cards)).toEqual(expected);
    for (const c of fetched.json().cards) expect(c.detail).not.toContain('could not be read');
    const sources = loggedSources(logs.lines.slice(mark).join('')).at(-1);
    // The Procedure filter, proven whole by its counts: no criterion reads the bulk Procedures, none left HAPI.
    expect(sources).toContain('procedures:fhir-server:0');
    expect(sources).toContain(`medicationRequests:fhir-server:${COUNTS.medicationRequests}`);
    // The proof's two counts: every Procedure, and those with no coding in a list system (0).
    const counts = requests.filter((r) => r.url.includes('/Procedure') && r.url.includes('_summary=count'));
    expect(counts).toHaveLength(2);
    expect(counts.some((r) => decodeURIComponent(r.url).includes('code:not='))).toBe(true);
    // 3,000 MedicationRequests at 200 a page: the first page, then all 15 again as offset searches in `_id` order
    // read side by side (HAPI answers them from its database; its cached `_getpages` links waited for the
    // search's background task), and no paging link followed.
    const offsets = requests.filter((r) => r.url.startsWith('/fhir/MedicationRequest?') && r.url.includes('&_sort=_id&_offset='));
    expect(offsets.map((r) => Number(/_offset=(\d+)/.exec(r.url)![1])).sort((a, b) => a - b)).toEqual(Array.from({ length: Math.ceil(COUNTS.medicationRequests / 200) }, (_, i) => i * 200));
    expect(requests.filter((r) => r.url.startsWith('/fhir?_getpages=')).length).toBe(0);
    for (const r of requests) expect(r.authorization).toBe(`Bearer ${TOKEN}`);
  });
});
