/**
 * The patient-view hook with its data fetched from a real HAPI FHIR server instead of prefetch: the cards
 * must be the ones the same patient gets with full prefetch, whatever mix of prefetch and fetching the EHR
 * chooses (CDS Hooks 2.0 §Prefetch: the service fetches what the EHR did not send, with the EHR's token).
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogCapture, testApp } from '../support/app.js';
import { hookTrace } from '../support/hook-trace.js';
import { hookRequest, prefetchFor } from '../support/hook-request.js';
import {
  EXTRA_CONDITIONS,
  EXTRA_HB,
  PAGING_PATIENT,
  TOKEN,
  callHook,
  cardView,
  examplePatients,
  fhirAuthorization,
  fhirBaseUrl,
  loadIntoHapi,
  loggedSources,
  pagingPatientBundle,
  skipNote,
  startRecordingProxy,
  type RecordedRequest,
} from './hapi-support.js';

describe.skipIf(!fhirBaseUrl)(`patient-view with data from HAPI FHIR${skipNote}`, () => {
  const patients = fhirBaseUrl ? [...examplePatients(), { id: PAGING_PATIENT, bundle: pagingPatientBundle() }] : [];
  let app: FastifyInstance;
  let logs: LogCapture;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;

  beforeAll(async () => {
    const response = await loadIntoHapi(patients.map((p) => p.bundle));
    expect(response.type).toBe('transaction-response');
    logs = new LogCapture();
    app = testApp({ logStream: logs }, { LOG_LEVEL: 'info' });
    await app.ready();
    proxy = await startRecordingProxy(fhirBaseUrl);
  });
  afterAll(async () => {
    await app?.close();
    await proxy?.close();
  });

  function bundleOf(id: string): Bundle {
    const p = patients.find((x) => x.id === id);
    if (!p) throw new Error(`no test patient ${id}`);
    return p.bundle;
  }

  async function baseline(id: string) {
    const res = await callHook(app, hookRequest(id, { prefetch: prefetchFor(bundleOf(id)) }));
    expect(res.statusCode).toBe(200);
    return cardView(res.json().cards);
  }

  /** A hook through the recording proxy; returns the cards and the requests this one call made. */
  async function viaHapi(id: string, prefetch?: Record<string, unknown>) {
    const before = proxy.requests.length;
    const body = hookRequest(id, { fhirServer: proxy.fhirBase, fhirAuthorization: fhirAuthorization(id), ...(prefetch ? { prefetch } : {}) });
    const res = await callHook(app, body);
    expect(res.statusCode, res.body).toBe(200);
    return { body, cards: res.json().cards as any[], requests: proxy.requests.slice(before) };
  }

  function expectOnlyThisPatientsSearches(requests: RecordedRequest[], id: string): void {
    for (const r of requests) {
      expect(r.method).toBe('GET');
      expect(r.authorization, r.url).toBe(`Bearer ${TOKEN}`);
      const path = decodeURIComponent(r.url);
      const ownSearch = path.startsWith('/fhir/') && (path === `/fhir/Patient/${id}` || new URL(path, 'http://x').searchParams.get('patient') === id);
      // HAPI's paging links name a stored search, not the patient; they come only from this patient's searches.
      const pagingLink = /^\/fhir\?_getpages=/.test(path);
      expect(ownSearch || pagingLink, path).toBe(true);
    }
  }

  it('gives every example patient the same cards with no prefetch as with full prefetch', async () => {
    for (const { id } of examplePatients()) {
      const expected = await baseline(id);
      const { cards, requests } = await viaHapi(id);
      expect(cardView(cards), id).toEqual(expected);
      // All nine prefetch keys were fetched from HAPI; the Procedures by the code filter, beside the two
      // `_summary=count` searches that must agree before the filter is trusted (issue #21 item 4).
      expect(requests.map((r) => decodeURIComponent(r.url).split(/[/?]/)[2]).sort(), id).toEqual(
        ['Condition', 'Immunization', 'MedicationAdministration', 'MedicationDispense', 'MedicationRequest', 'MedicationStatement', 'Observation', 'Patient', 'Procedure', 'Procedure', 'Procedure'],
      );
      expect(requests.filter((r) => r.url.includes('/Procedure') && r.url.includes('_summary=count')), id).toHaveLength(2);
      expectOnlyThisPatientsSearches(requests, id);
    }
    // Not vacuous: at least one example gets cards.
    expect((await baseline('sle-child-likely')).length).toBeGreaterThan(0);
  });

  it('fetches only the keys the EHR left out of a partial prefetch, and gets the same cards', async () => {
    const id = 'sle-child-likely';
    const full = prefetchFor(bundleOf(id));
    const { cards, requests } = await viaHapi(id, { patient: full.patient, conditions: full.conditions });
    expect(cardView(cards)).toEqual(await baseline(id));
    const fetched = requests.map((r) => decodeURIComponent(r.url));
    expect(fetched.some((u) => u.startsWith('/fhir/Patient') || u.startsWith('/fhir/Condition'))).toBe(false);
    expect(fetched.some((u) => u.startsWith('/fhir/Observation?'))).toBe(true);
  });

  it('reads a null prefetch key as "no such data" and does not fetch it', async () => {
    const id = 'sle-teen-missing-tests';
    const { cards, requests } = await viaHapi(id, { procedures: null, immunizations: null, medicationRequests: null });
    expect(cardView(cards)).toEqual(await baseline(id));
    const fetched = requests.map((r) => decodeURIComponent(r.url));
    expect(fetched.filter((u) => /^\/fhir\/(Procedure|Immunization|MedicationRequest)\b/.test(u))).toEqual([]);
    expect(fetched).toHaveLength(6);
  });

  it('follows HAPI paging links to read every Observation and Condition, and still finds the newest result', async () => {
    const id = PAGING_PATIENT;
    const expected = await baseline(id);
    const mark = logs.lines.length;
    const { body, cards, requests } = await viaHapi(id);
    expect(cardView(cards)).toEqual(expected);

    // Every Observation the template asks for (the example's 24 plus 250 haemoglobins), over two pages of
    // 200; every Condition (1 + 25), which at HAPI's default of 20 would need two pages, in one: every
    // template asks for _count=200 (issue #10 item 9).
    const sources = loggedSources(logs.lines.slice(mark).join('')).at(-1);
    expect(sources).toContain(`observations:fhir-server:${24 + EXTRA_HB}`);
    expect(sources).toContain(`conditions:fhir-server:${1 + EXTRA_CONDITIONS}`);
    const pageLinks = requests.filter((r) => r.url.startsWith('/fhir?_getpages='));
    expect(pageLinks.length).toBe(1);
    expectOnlyThisPatientsSearches(requests, id);

    // _sort=-date put the newest haemoglobin first; 250 older 7.0 g/dL results did not displace it.
    // The card carries no evidence (issue #11): the same request's trace does, as the app shows it.
    expect(cards.find((c) => c.source.topic.code === 'nct06789107-blinatumomab')).toBeDefined();
    const trace = (await hookTrace(app, body)).evaluations.find((e) => e.trialId === 'nct06789107-blinatumomab')!;
    const hb = trace.criteria.find((c) => c.id === 'inc-7')!;
    expect(hb.evidence.filter((e) => e.display === 'Hemoglobin')).toEqual([
      { reference: `Observation/${PAGING_PATIENT}-obs-5`, display: 'Hemoglobin', date: '2026-11-16', value: 112, unit: 'g/L', recorded: '11.2 g/dL' },
    ]);
  });

  it('sends the EHR token on every FHIR request and never logs it', async () => {
    const id = 'sle-adult-belimumab';
    const { requests } = await viaHapi(id);
    // The nine keys and the Procedure filter's two counts (issue #21 item 4).
    expect(requests.length).toBe(11);
    for (const r of requests) expect(r.authorization).toBe(`Bearer ${TOKEN}`);
    // Without fhirAuthorization no token is invented.
    const before = proxy.requests.length;
    const res = await callHook(app, hookRequest(id, { fhirServer: proxy.fhirBase }));
    expect(res.statusCode).toBe(200);
    for (const r of proxy.requests.slice(before)) expect(r.authorization).toBeUndefined();
    expect(logs.text).not.toContain(TOKEN);
  });
});
