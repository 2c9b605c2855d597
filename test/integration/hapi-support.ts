/**
 * What the integration tests share: the server the global setup provides, loading patients into it, a
 * recording reverse proxy in front of it, and servers that fail the ways real FHIR servers fail.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { resolve } from 'node:path';
import type { Bundle, BundleEntry, Condition, Observation, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { loadExamples } from '../../src/examples/example-patients.js';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { postTransaction, toTransactionBundle } from '../../scripts/load-examples.js';
import { ROOT } from '../support/app.js';
import { closeServer, listen } from '../support/loopback.js';

export const SERVICE = '/cds-services/trialmatch-sle';
/** A made-up EHR token: it must reach the FHIR server on every call and appear nowhere else. */
export const TOKEN = 'itest-token-6f1c2a9e';

export const fhirBaseUrl = inject('fhirBaseUrl');
/** Suite name suffix: says why the suite is skipped when there is no server. */
export const skipNote = fhirBaseUrl ? '' : ` (skipped: no FHIR server: ${inject('fhirServerUnavailable')})`;

/**
 * The examples exactly as written (anchor date 2026-11-23), not shifted: the tests evaluate with testApp's
 * fixed clock at that date, so HAPI's data and the full-prefetch baseline are the same resources and the
 * cards can be compared to the letter, on any day and across midnight.
 */
export function examplePatients(): { id: string; bundle: Bundle }[] {
  return loadExamples(resolve(ROOT, 'cds-hooks', 'examples')).patients.map(({ id, bundle }) => ({ id, bundle }));
}

export const PAGING_PATIENT = 'itest-paging';
export const EXTRA_HB = 250;
export const EXTRA_CONDITIONS = 25;

/**
 * sle-child-likely under another id, plus 250 older haemoglobin results (so the Observation search, at
 * _count=200, needs a second page) and 25 resolved unrelated conditions (more than HAPI's default page of 20,
 * which the Condition template's _count=200 keeps to one page). The newest haemoglobin stays the example's 11.2 g/dL of 2026-11-16.
 */
export function pagingPatientBundle(): Bundle {
  const base = examplePatients().find((p) => p.id === 'sle-child-likely');
  if (!base) throw new Error('example sle-child-likely is missing');
  const renamed = JSON.parse(JSON.stringify(base.bundle).replaceAll('sle-child-likely', PAGING_PATIENT)) as Bundle;
  const subject = { reference: `Patient/${PAGING_PATIENT}` };
  const extra: BundleEntry[] = [];
  for (let i = 0; i < EXTRA_HB; i++) {
    const date = new Date(Date.UTC(2026, 8, 30) - i * 86_400_000).toISOString().slice(0, 10); // from 2026-09-30 back
    const obs: Observation = {
      resourceType: 'Observation',
      id: `${PAGING_PATIENT}-hb-${i}`,
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }] },
      subject,
      effectiveDateTime: `${date}T08:00:00Z`,
      valueQuantity: { value: 7.0, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
    };
    extra.push({ resource: obs });
  }
  for (let i = 0; i < EXTRA_CONDITIONS; i++) {
    const cond: Condition = {
      resourceType: 'Condition',
      id: `${PAGING_PATIENT}-myopia-${i}`,
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' }] },
      code: { coding: [{ system: 'http://snomed.info/sct', code: '57190000', display: 'Myopia' }] },
      subject,
      onsetDateTime: `20${10 + (i % 10)}-01-15`,
      abatementDateTime: `20${10 + (i % 10)}-06-15`,
    };
    extra.push({ resource: cond });
  }
  return { ...renamed, entry: [...(renamed.entry ?? []), ...extra] };
}

/** Loads patients with one transaction of PUTs (stable ids: loading twice updates, never duplicates). */
export async function loadIntoHapi(bundles: readonly Bundle[]): Promise<Bundle> {
  return postTransaction(fhirBaseUrl, toTransactionBundle(bundles));
}

export function fhirAuthorization(patientId: string): Record<string, unknown> {
  return { access_token: TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'trialmatch-sle', patient: patientId };
}

/** What a clinician sees of the cards, without the per-response uuids: trial, status, summary and detail. */
export function cardView(cards: any[]): { trial: string; status: string; summary: string; detail: string }[] {
  return cards.map((c) => ({ trial: c.source.topic.code, status: c.extension[EXTENSION_KEY].status, summary: c.summary, detail: c.detail }));
}

export async function callHook(app: FastifyInstance, body: Record<string, unknown>) {
  return app.inject({ method: 'POST', url: SERVICE, payload: body });
}

export interface RecordedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
}

export interface RunningServer {
  url: string;
  close: () => Promise<void>;
}

/**
 * A reverse proxy in front of HAPI that records each request's method, path and Authorization header (HAPI
 * itself ignores auth, so this is where the token can be seen). It keeps the caller's Host header: HAPI
 * builds its absolute `next` links from it, so paging links point back at the proxy, as they would at an
 * EHR's gateway.
 */
export async function startRecordingProxy(target: string): Promise<RunningServer & { fhirBase: string; requests: RecordedRequest[] }> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    const headers: IncomingHttpHeaders = { ...req.headers };
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
  const url = await listen(server);
  return { url, fhirBase: `${url}${upstream.pathname}`, requests, close: () => closeServer(server) };
}

/** A FHIR server that answers every request with `status` and an OperationOutcome, or never answers. */
export async function startFaultyServer(behaviour: 401 | 500 | 'hang'): Promise<RunningServer & { hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    if (behaviour === 'hang') return; // holds the connection open until the client gives up
    const outcome: Resource = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: behaviour === 401 ? 'login' : 'exception', diagnostics: behaviour === 401 ? 'token expired' : 'internal error' }],
    };
    res.writeHead(behaviour, { 'content-type': 'application/fhir+json', ...(behaviour === 401 ? { 'www-authenticate': 'Bearer error="invalid_token"' } : {}) });
    res.end(JSON.stringify(outcome));
  });
  const url = await listen(server);
  return { url: `${url}/fhir`, hits: () => hits, close: () => closeServer(server) };
}

/** The patient-view log line's `sources` (key:origin:count), read from a LogCapture. */
export function loggedSources(logText: string): string[][] {
  return logText
    .split('\n')
    .filter((l) => l.includes('"patient-view evaluated"'))
    .map((l) => (JSON.parse(l) as { sources: string[] }).sources);
}
