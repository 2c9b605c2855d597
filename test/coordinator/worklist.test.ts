import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { Group, List } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import type { ScreeningEntry } from '../../src/population/screening-entry.js';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { exampleEntries, SERVER } from '../support/screening-store-contract.js';
import { BASE, makeIssuer, startServer, writeTrust, type RecordingServer, type TestIssuer } from '../security/helpers.js';

/**
 * Issue #19 item 2: the coordinator's worklist through the real app, on entries the real engine made for the
 * example patients (as a population job stores them), read by a trust-file coordinator or a SMART user.
 */
const OTHER = 'https://other-hospital.example/fhir';
const TRIAL = 'zju-cd19-car-t-csle';
const exp = Math.floor(Date.now() / 1000) + 3600;

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

/** CSV per RFC 4180 (quoted fields, doubled quotes, CRLF), read back. */
function parseCsv(text: string): string[][] {
  expect(text.endsWith('\r\n')).toBe(true);
  return text
    .slice(0, -2)
    .split('\r\n')
    .map((line) => [...line.matchAll(/"((?:[^"]|"")*)"(?:,|$)/g)].map((m) => m[1]!.replace(/""/g, '"')));
}

describe('the coordinator\'s worklist', () => {
  let app: FastifyInstance;
  let coordinator: TestIssuer;
  let ehr: TestIssuer;
  let as: RecordingServer;
  let smartFhir: string;
  let auditFile: string;
  const TOKENS: Record<string, Record<string, unknown>> = {};

  beforeAll(async () => {
    coordinator = await makeIssuer('https://research-office.example');
    ehr = await makeIssuer('https://ehr.example');
    as = await startServer((req, res) => {
      void readBody(req).then((body) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(TOKENS[new URLSearchParams(body).get('token') ?? ''] ?? { active: false }));
      });
    });
    smartFhir = `${as.url}/fhir`;
    TOKENS['user-token-1'] = { active: true, scope: 'openid fhirUser user/Patient.rs user/Observation.rs', client_id: 'trialmatch-cds', fhirUser: 'Practitioner/coordinator-7', exp };
    TOKENS['study-admin-3'] = { active: true, scope: 'openid fhirUser user/Patient.rs user/ResearchStudy.cru', client_id: 'trialmatch-cds', fhirUser: 'Practitioner/study-admin-3', exp };
    TOKENS['patient-token-2'] = { active: true, scope: 'launch patient/*.read', client_id: 'trialmatch-cds', fhirUser: 'Practitioner/dr-x', patient: 'sle-child-likely', exp };
    const trust = writeTrust({
      issuers: [
        { issuer: coordinator.issuer, jwks: { keys: [coordinator.publicJwk] }, fhirServers: [SERVER], roles: ['coordinator'] },
        { issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] }, fhirServers: [SERVER, OTHER] },
      ],
      smartServers: [{ fhirBaseUrl: smartFhir, introspectionUrl: `${as.url}/introspect`, introspectionAuth: { type: 'token-itself' } }],
    });
    auditFile = resolve(mkdtempSync(resolve(tmpdir(), 'trialmatch-worklist-audit-')), 'audit.jsonl');
    app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, AUDIT_FILE: auditFile });
    await app.ready();
    // Four patients of this hospital, one of another hospital, one of the SMART server's.
    const entries: Omit<ScreeningEntry, 'isNew'>[] = [
      ...exampleEntries('sle-child-likely', 'job-1'),
      ...exampleEntries('sle-teen-missing-tests', 'job-1'),
      ...exampleEntries('adult-no-sle', 'job-1'),
      ...exampleEntries('sle-child-hiv-positive', 'job-1'),
      ...exampleEntries('sle-child-likely', 'job-1', 'digest-o', OTHER),
      ...exampleEntries('sle-teen-missing-tests', 'job-1', 'digest-s', smartFhir),
    ];
    await app.state.screening.put(entries);
  });
  afterAll(async () => {
    await app.close();
    await as.close();
  });

  const asCoordinator = async (method: 'GET' | 'PUT', url: string, payload?: unknown, issuer: TestIssuer = coordinator) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${await issuer.sign({ aud: `${BASE}${url.split('?')[0]}`, sub: 'coordinator-jo' })}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
      ...(payload ? { payload: JSON.stringify(payload) } : {}),
    });

  it('ranks a trial\'s candidates, with their open items, last data seen, criteria and isNew, and leaves out the ineligible and other hospitals\' patients', async () => {
    const res = await asCoordinator('GET', `/worklist/${TRIAL}`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.trial).toMatchObject({ id: TRIAL });
    const expected = [...exampleEntries('sle-child-likely', 'x'), ...exampleEntries('sle-teen-missing-tests', 'x'), ...exampleEntries('adult-no-sle', 'x'), ...exampleEntries('sle-child-hiv-positive', 'x')]
      .filter((e) => e.trialId === TRIAL && e.status !== 'ineligible')
      .sort((a, b) => a.openItems.length - b.openItems.length);
    expect(expected.length).toBeGreaterThan(1);
    expect(body.candidates.map((c: { patientId: string }) => c.patientId)).toEqual(expected.map((e) => e.patientId));
    expect(body.candidates.every((c: { fhirServer: string }) => c.fhirServer === SERVER)).toBe(true);
    const first = body.candidates[0];
    expect(first).toMatchObject({ rank: 1, patient: `${SERVER}/Patient/${expected[0]!.patientId}`, status: expected[0]!.status, openItems: expected[0]!.openItems, lastDataSeen: '2026-11-20', isNew: true, state: 'new' });
    expect(first.criteria).toEqual(expected[0]!.criteria);
    // In words, as the contract says: "Inclusion 4: …", never a bare item number.
    expect(first.openItemText.every((t: string) => /^(Inclusion|Exclusion) [^:]+: \S/.test(t))).toBe(true);
    expect(body.candidates.map((c: { openItems: string[] }) => c.openItems.length)).toEqual(expected.map((e) => e.openItems.length));
  });

  it('serves the candidates as a FHIR Group (actual, one member per Patient) and the ranking as a List with flags and extensions', async () => {
    const json = (await asCoordinator('GET', `/worklist/${TRIAL}`)).json();
    const groupRes = await asCoordinator('GET', `/worklist/${TRIAL}/Group`);
    expect(groupRes.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const group = groupRes.json<Group>();
    expect(group).toMatchObject({ resourceType: 'Group', type: 'person', actual: true, quantity: json.candidates.length, code: { coding: [{ system: 'urn:trialmatch-cds:trial', code: TRIAL }] } });
    expect(group.member?.map((m) => m.entity.reference)).toEqual(json.candidates.map((c: { patient: string }) => c.patient));
    const list = (await asCoordinator('GET', `/worklist/${TRIAL}/List`)).json<List>();
    expect(list).toMatchObject({ resourceType: 'List', status: 'current', mode: 'snapshot', orderedBy: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/list-order', code: 'priority' }] } });
    expect(list.entry?.map((e) => e.item.reference)).toEqual(json.candidates.map((c: { patient: string }) => c.patient));
    const entry = list.entry![0]!;
    expect(entry.flag?.coding).toEqual([
      { system: 'urn:trialmatch-cds:eligibility-status', code: json.candidates[0].status, display: expect.stringMatching(/eligible/) },
      { system: 'urn:trialmatch-cds:worklist-state', code: 'new' },
    ]);
    expect(entry.extension?.filter((x) => x.url === 'urn:trialmatch-cds:worklist:open-item').map((x) => x.valueString)).toEqual(json.candidates[0].openItemText);
    expect(entry.extension?.find((x) => x.url === 'urn:trialmatch-cds:worklist:last-data-seen')?.valueDateTime).toBe('2026-11-20');
    expect(entry.extension?.filter((x) => x.url === 'urn:trialmatch-cds:worklist:criterion')).toHaveLength(json.candidates[0].criteria.length);
  });

  it('serves CSV (RFC 4180) in rank order, a cell a spreadsheet would run as a formula escaped', async () => {
    const base = exampleEntries('sle-teen-missing-tests', 'job-2').find((e) => e.trialId === TRIAL)!;
    // FHIR ids may start with '-': a spreadsheet reads "-2+3" as a formula.
    await app.state.screening.put([{ ...base, patientId: '-2+3', openItemText: ['=HYPERLINK("http://evil.example","x")', '@SUM(1)'], openItems: ['inc-1', 'inc-2'] }]);
    const res = await asCoordinator('GET', `/worklist/${TRIAL}/csv`);
    expect(res.headers['content-type']).toMatch(/^text\/csv; charset=utf-8; header=present/);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="worklist-${TRIAL}.csv"`);
    const rows = parseCsv(res.body);
    expect(rows[0]).toEqual(['rank', 'patient', 'fhir_server', 'patient_id', 'status', 'status_reason', 'open_items', 'open_item_text', 'last_data_seen', 'new', 'state', 'state_set_by', 'state_set_at', 'screened_at', 'criteria']);
    const json = (await asCoordinator('GET', `/worklist/${TRIAL}`)).json();
    expect(rows.slice(1).map((r) => r[0])).toEqual(json.candidates.map((c: { rank: number }) => String(c.rank)));
    const evil = rows.find((r) => r[3] === "'-2+3")!;
    expect(evil[7]).toBe('\'=HYPERLINK("http://evil.example","x"); @SUM(1)');
    expect(res.body).toContain('"\'=HYPERLINK(""http://evil.example"",""x""); @SUM(1)"');
    expect(rows.slice(1).every((r) => r.every((cell) => !/^[=+\-@]/.test(cell)))).toBe(true);
  });

  it('keeps the state a coordinator sets, who set it and when, and audits it', async () => {
    const patientId = 'sle-teen-missing-tests';
    const res = await asCoordinator('PUT', `/worklist/${TRIAL}/state`, { fhirServer: `${SERVER}/`, patientId, state: 'contacted' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ fhirServer: SERVER, trialId: TRIAL, patientId, state: 'contacted', setBy: { issuer: coordinator.issuer, subject: 'coordinator-jo' }, setAt: ANCHOR.toISOString() });
    const candidate = (await asCoordinator('GET', `/worklist/${TRIAL}`)).json().candidates.find((c: { patientId: string }) => c.patientId === patientId);
    expect(candidate).toMatchObject({ state: 'contacted', stateSetBy: { issuer: coordinator.issuer, subject: 'coordinator-jo' }, stateSetAt: ANCHOR.toISOString() });
    const list = (await asCoordinator('GET', `/worklist/${TRIAL}/List`)).json<List>();
    expect(list.entry?.find((e) => e.item.reference === `${SERVER}/Patient/${patientId}`)?.flag?.coding?.[1]).toEqual({ system: 'urn:trialmatch-cds:worklist-state', code: 'contacted' });
    const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toContainEqual({ at: ANCHOR.toISOString(), issuer: coordinator.issuer, subject: 'coordinator-jo', action: 'coordinator-state', patientId, fhirServer: SERVER, trials: [TRIAL], state: 'contacted' });
    expect(audit.some((a) => a.action === 'worklist')).toBe(true);
    const bad = await asCoordinator('PUT', `/worklist/${TRIAL}/state`, { fhirServer: SERVER, patientId, state: 'maybe' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().resourceType).toBe('OperationOutcome');
  });

  it('refuses a caller without a token (401), an EHR issuer without the coordinator role (403), and a server the coordinator may not see (403)', async () => {
    const none = await app.inject({ method: 'GET', url: `/worklist/${TRIAL}` });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="trialmatch-cds"');
    expect((await asCoordinator('GET', `/worklist/${TRIAL}`, undefined, ehr)).statusCode).toBe(403);
    const elsewhere = await asCoordinator('PUT', `/worklist/${TRIAL}/state`, { fhirServer: OTHER, patientId: 'sle-child-likely', state: 'declined' });
    expect(elsewhere.statusCode).toBe(403);
    expect((await asCoordinator('GET', '/worklist/no-such-trial')).statusCode).toBe(404);
    // A token whose signature does not hold is refused as such, whatever its issuer's role.
    const forged = await (await makeIssuer(coordinator.issuer)).sign({ aud: `${BASE}/worklist/${TRIAL}` });
    expect((await app.inject({ method: 'GET', url: `/worklist/${TRIAL}`, headers: { authorization: `Bearer ${forged}` } })).statusCode).toBe(401);
  });

  it('opens the SMART server\'s own patients to a SMART user\'s token, and refuses a patient-launch token', async () => {
    const res = await app.inject({ method: 'GET', url: `/worklist/${TRIAL}?iss=${encodeURIComponent(smartFhir)}`, headers: { authorization: 'Bearer user-token-1' } });
    expect(res.statusCode).toBe(200);
    expect(res.json().candidates.map((c: { patient: string }) => c.patient)).toEqual([`${smartFhir}/Patient/sle-teen-missing-tests`]);
    const summary = await app.inject({ method: 'GET', url: '/worklist', headers: { authorization: 'Bearer user-token-1' } });
    expect(summary.json()).toMatchObject({ user: { issuer: smartFhir, subject: 'Practitioner/coordinator-7' } });
    expect(summary.json().trials.find((t: { id: string }) => t.id === TRIAL)).toMatchObject({ candidates: 1, possibly: 1, new: 1 });
    const patientToken = await app.inject({ method: 'GET', url: `/worklist/${TRIAL}`, headers: { authorization: 'Bearer patient-token-2' } });
    expect(patientToken.statusCode).toBe(403);
  });

  it('changes a trial\'s site status for a coordinator (issue #19 item 3): the summary shows it and why no card, the hook gives none, and the change is audited', async () => {
    const bundle = exampleBundle('sle-child-likely');
    const cardTrials = async (): Promise<string[]> => {
      const url = '/cds-services/trialmatch-sle';
      const res = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${await ehr.sign({ aud: `${BASE}${url}` })}` }, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
      expect(res.statusCode).toBe(200);
      return res.json().cards.map((c: { source: { topic: { code: string } } }) => c.source.topic.code);
    };
    expect(await cardTrials()).toContain(TRIAL);
    // An EHR's token alone does not pause a trial for every patient.
    expect((await asCoordinator('PUT', `/worklist/${TRIAL}/site-status`, { status: 'paused' }, ehr)).statusCode).toBe(403);
    const paused = await asCoordinator('PUT', `/worklist/${TRIAL}/site-status`, { status: 'paused', reason: 'sponsor hold' });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ trialId: TRIAL, recruiting: false, site: { status: 'paused', source: 'coordinator', setBy: 'coordinator-jo', reason: 'sponsor hold' } });
    const summary = (await asCoordinator('GET', '/worklist')).json();
    expect(summary.siteStatuses).toEqual(['open', 'paused', 'closed', 'not-participating']);
    const trial = summary.trials.find((t: { id: string }) => t.id === TRIAL);
    expect(trial.availability.why).toMatch(/^Not recruiting here: paused at this site since \d{4}-\d{2}-\d{2} \(sponsor hold\)\. No card is shown for this trial\.$/);
    // The CD19 study's protocol document gives no status date: shown as possibly stale.
    expect(trial.availability.registry).toMatchObject({ stale: true, text: 'Recruiting, no date given (protocol document)' });
    expect(await cardTrials()).not.toContain(TRIAL);
    const audit = readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toContainEqual(expect.objectContaining({ issuer: coordinator.issuer, subject: 'coordinator-jo', action: 'site-status', trials: [TRIAL] }));
    expect((await asCoordinator('PUT', `/worklist/${TRIAL}/site-status`, { status: 'on-hold' })).statusCode).toBe(400);
    expect((await asCoordinator('PUT', `/worklist/${TRIAL}/site-status`, { status: 'open' })).json()).toMatchObject({ recruiting: true });
    expect(await cardTrials()).toContain(TRIAL);
  });

  it('lets a SMART user change a site status only with a token that grants user/ResearchStudy.u: a read scope views the worklist but does not pause a trial', async () => {
    const put = (token: string, status: string) =>
      app.inject({ method: 'PUT', url: `/worklist/${TRIAL}/site-status?iss=${encodeURIComponent(smartFhir)}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: { status } });
    const reader = await app.inject({ method: 'GET', url: '/worklist', headers: { authorization: 'Bearer user-token-1' } });
    expect(reader.json().user).toMatchObject({ mayChangeSiteStatus: false });
    const refused = await put('user-token-1', 'paused');
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ diagnostics: expect.stringContaining('user/ResearchStudy.u') }] });
    const admin = await app.inject({ method: 'GET', url: '/worklist', headers: { authorization: 'Bearer study-admin-3' } });
    expect(admin.json().user).toMatchObject({ mayChangeSiteStatus: true });
    expect((await put('study-admin-3', 'paused')).json()).toMatchObject({ recruiting: false, site: { status: 'paused', setBy: 'Practitioner/study-admin-3' } });
    expect((await put('study-admin-3', 'open')).json()).toMatchObject({ recruiting: true });
  });
});
