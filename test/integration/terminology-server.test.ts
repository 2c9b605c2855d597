/**
 * A site's terminology server (issue #17 item 3) against the real HAPI FHIR server: a SNOMED CT-shaped
 * CodeSystem fragment, the project's hierarchy lists as ValueSets and the site's ConceptMap are loaded into
 * HAPI, and the hook (TERMINOLOGY_SERVER pointing at HAPI through a loopback proxy) reads a descendant code
 * and a local code the lists do not hold. Then the proxy is stopped, which closes its port: the hook still
 * answers, with those codes unplaced, and /metrics counts them. A proxy, not HAPI itself, is stopped because
 * the HAPI server is shared by every integration test file of the run (global setup); a closed port is what
 * a terminology server that is down looks like from here (connection refused).
 */
import type { Bundle, CodeSystemConcept, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { TRIAL } from '../support/clinical.js';
import { hookRequest, prefetchFor } from '../support/hook-request.js';
import {
  ALL_CODE,
  LOCAL_SLE,
  LOCAL_SYSTEM,
  NEW_SLE_SUBTYPE,
  SCT,
  hierarchyMappingsDir,
  hierarchyValueSet,
  siteConceptMap,
  sleChildCodedAs,
  sleChildWith,
  snomedFragment,
} from '../support/terminology.js';
import { callHook, cardView, fhirBaseUrl, skipNote, startRecordingProxy } from './hapi-support.js';

async function put(resource: Resource & { id: string }): Promise<void> {
  const res = await fetch(`${fhirBaseUrl}/${resource.resourceType}/${resource.id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body: JSON.stringify(resource),
  });
  expect(res.status, `PUT ${resource.resourceType}/${resource.id}`).toBeLessThan(300);
}

/** HAPI stores a CodeSystem's concepts after the PUT answers: wait until $subsumes knows every concept of it. */
async function waitForConcepts(): Promise<void> {
  const deadline = Date.now() + 60_000;
  const subsumes = async (a: string, b: string): Promise<boolean> => {
    const res = await fetch(`${fhirBaseUrl}/CodeSystem/$subsumes?system=${encodeURIComponent(SCT)}&codeA=${a}&codeB=${b}`, { headers: { accept: 'application/fhir+json' } });
    return res.ok && JSON.stringify(await res.json()).includes('"subsumes"');
  };
  const pairs = (function* walk(concepts: CodeSystemConcept[], parent?: string): Generator<[string, string]> {
    for (const c of concepts) {
      if (parent) yield [parent, c.code];
      yield* walk(c.concept ?? [], c.code);
    }
  })(snomedFragment().concept ?? []);
  const all = [...pairs];
  for (;;) {
    if ((await Promise.all(all.map(([a, b]) => subsumes(a, b)))).every(Boolean)) return;
    if (Date.now() > deadline) throw new Error('HAPI did not index the CodeSystem fragment within 60 s');
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The trials and statuses of the cards, in order (the clinician's view without the per-response uuids). */
function statuses(cards: ReturnType<typeof cardView>): string[] {
  return cards.map((c) => `${c.trial}:${c.status}`);
}

async function hookCards(app: FastifyInstance, bundle: Bundle, id: string): Promise<string[]> {
  const res = await callHook(app, hookRequest(id, { prefetch: prefetchFor(bundle) }));
  expect(res.statusCode).toBe(200);
  return statuses(cardView(res.json().cards));
}

/** Each card's criteria results (id, result, review) as the card's extension carries them. */
async function hookCriteria(app: FastifyInstance, bundle: Bundle, id: string): Promise<unknown[]> {
  const res = await callHook(app, hookRequest(id, { prefetch: prefetchFor(bundle) }));
  expect(res.statusCode).toBe(200);
  return res.json<{ cards: { extension: Record<string, { criteria: unknown[] }> }[] }>().cards.map((c) => Object.values(c.extension)[0]!.criteria);
}

/** The value of one series on /metrics (0 when absent). */
async function metric(app: FastifyInstance, series: string): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe.skipIf(!fhirBaseUrl)(`a site's terminology server (HAPI FHIR)${skipNote}`, () => {
  const mappings = fhirBaseUrl ? hierarchyMappingsDir() : undefined;
  const subtype = sleChildCodedAs('itest-tx-sle-subtype', { system: SCT, code: NEW_SLE_SUBTYPE, display: 'Systemic lupus erythematosus, new subtype' });
  // A local display that names nothing the lists know: without the server the SLE inclusion stays unknown.
  const local = sleChildCodedAs('itest-tx-sle-local', { system: LOCAL_SYSTEM, code: LOCAL_SLE, display: 'Problem 01' });
  const leukaemia = sleChildWith('itest-tx-all', { system: SCT, code: ALL_CODE, display: 'Acute lymphoid leukemia' });
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let withServer: FastifyInstance;
  let noServer: FastifyInstance;
  let base: string[];

  beforeAll(async () => {
    await put(snomedFragment() as Resource & { id: string });
    await put(hierarchyValueSet('sle') as Resource & { id: string });
    await put(hierarchyValueSet('malignancy') as Resource & { id: string });
    await put(siteConceptMap() as Resource & { id: string });
    await waitForConcepts();
    proxy = await startRecordingProxy(fhirBaseUrl);
    noServer = testApp({}, { MAPPINGS_DIR: mappings!.dir });
    withServer = testApp({}, { MAPPINGS_DIR: mappings!.dir, TERMINOLOGY_SERVER: proxy.fhirBase, TERMINOLOGY_BUDGET_MS: '20000' });
    await Promise.all([noServer.ready(), withServer.ready()]);
    base = await hookCards(noServer, sleChildCodedAs('itest-tx-sle', { system: SCT, code: '55464009', display: 'Systemic lupus erythematosus' }), 'itest-tx-sle');
  });
  afterAll(async () => {
    await withServer?.close();
    await noServer?.close();
    await proxy?.close();
    mappings?.remove();
  });

  it('reads an SLE subtype the list does not hold as SLE, by $subsumes against the list\'s hierarchy root', async () => {
    expect(base.length).toBeGreaterThan(0);
    // Without a server the subtype is not SLE to the service, and the SLE inclusion hides those trials.
    expect(await hookCards(noServer, subtype, 'itest-tx-sle-subtype')).not.toEqual(base);
    expect(await hookCards(withServer, subtype, 'itest-tx-sle-subtype')).toEqual(base);
    expect(proxy.requests.some((r) => r.method === 'POST')).toBe(true);
  });

  it('reads acute lymphoblastic leukaemia, below a listed leukaemia, as a malignancy: the trials that exclude one are hidden', async () => {
    const without = await hookCards(noServer, leukaemia, 'itest-tx-all');
    expect(without).toEqual(base);
    const excluding = [TRIAL.blinatumomab, TRIAL.bcma, TRIAL.cd19].filter((t) => base.some((s) => s.startsWith(`${t}:`)));
    expect(excluding.length).toBeGreaterThan(0);
    const withIt = await hookCards(withServer, leukaemia, 'itest-tx-all');
    expect(withIt).toEqual(base.filter((s) => !excluding.some((t) => s.startsWith(`${t}:`))));
  });

  it('reads a local code the service has no file for by ConceptMap/$translate (equivalent)', async () => {
    // With the server the local entry is read as the SNOMED CT code: the cards' criteria are the same, and
    // the placement is the server's (one more placed answer from it).
    const snomed = await hookCriteria(noServer, sleChildCodedAs('itest-tx-sle-local', { system: SCT, code: '55464009', display: 'Systemic lupus erythematosus' }), 'itest-tx-sle-local');
    const placed = 'trialmatch_terminology_answers_total{source="server",result="placed"}';
    const before = await metric(withServer, placed);
    expect(await hookCriteria(withServer, local, 'itest-tx-sle-local')).toEqual(snomed);
    expect(await metric(withServer, placed)).toBe(before + 1);
    expect(await hookCards(withServer, local, 'itest-tx-sle-local')).toEqual(base);
    expect(await metric(withServer, 'trialmatch_terminology_answers_total{source="server",result="placed"}')).toBeGreaterThanOrEqual(3);
  });

  it('answers a question it asked before from the shared cache', async () => {
    // (Questions the server did not answer, such as other lists' roots this fragment does not hold, are
    // asked again: only answers are cached.)
    expect(await hookCards(withServer, subtype, 'itest-tx-sle-subtype')).toEqual(base);
    expect(await metric(withServer, 'trialmatch_terminology_answers_total{source="cache",result="placed"}')).toBeGreaterThanOrEqual(1);
  });

  it('still answers the hook while the terminology server is down: the codes stay unplaced and are counted', async () => {
    // A fresh app (an empty cache) on the proxy's address, then the proxy stopped: connection refused.
    const down = testApp({}, { MAPPINGS_DIR: mappings!.dir, TERMINOLOGY_SERVER: proxy.fhirBase });
    try {
      await down.ready();
      await proxy.close();
      const without = await hookCards(noServer, subtype, 'itest-tx-sle-subtype');
      expect(await hookCards(down, subtype, 'itest-tx-sle-subtype')).toEqual(without);
      expect(await hookCards(down, leukaemia, 'itest-tx-all')).toEqual(base);
      expect(await metric(down, 'trialmatch_terminology_unsettled_total{reason="failed"}')).toBeGreaterThanOrEqual(2);
      expect(await metric(down, 'trialmatch_terminology_request_duration_seconds_count{outcome="connection"}')).toBeGreaterThanOrEqual(2);
    } finally {
      await down.close();
    }
  });
});
