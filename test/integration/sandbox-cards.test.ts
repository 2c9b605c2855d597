/**
 * The real CDS Hooks sandbox as the EHR (issue #11 item 5): its built SPA served on 127.0.0.1, driven in
 * Debian's Chromium, against the service (started as in production, trusting the sandbox's key through
 * config/trust.test.json) and the HAPI test server holding the example patients.
 *
 * What the sandbox does (read from its app.bundle.js, commit 3b7e255, and asserted below):
 * - Discovery, the hook call and feedback each carry `Authorization: Bearer <JWT>`: ES384, header {alg, typ
 *   "JWT", kid 44823f3d-…, jku https://sandbox.cds-hooks.org/.well-known/jwks.json}, claims exactly iss, aud
 *   (the URL called), exp (iat + 300 s), iat, jti. No `sub`.
 * - Prefetch: each template run once on the FHIR server it was opened with (a read by GET; a search by POST
 *   [type]/_search, form-encoded, falling back to GET), the first page only, never following `next`; a key whose
 *   read fails is left out. It sends `fhirServer` but no `fhirAuthorization` (only after a SMART launch).
 * - Feedback: one POST per click, `{feedback: [{card, outcome: "overridden", outcomeTimestamp}]}`; an override
 *   reason adds `overrideReason: {reason: {code, system}}` (the coding, without display and userComment);
 *   Dismiss sends no overrideReason. Either way the card leaves the view.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDER_SUGGESTION_LABEL } from '../../src/cds/cards/suggestions.js';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { overrideReason } from '../../src/cds/override-reasons.js';
import { ROOT, testApp } from '../support/app.js';
import { prefetchFor, hookRequest } from '../support/hook-request.js';
import { launchBrowser, screenshotPath, watchErrors } from '../browser/support.js';
import {
  CHROMIUM,
  SANDBOX_ISSUER,
  SANDBOX_KID,
  SERVICE_ID,
  TEST_TRUST_FILE,
  cardWithSummary,
  decodeBearer,
  dismissCard,
  getAsSandbox,
  journalFeedback,
  nextFeedback,
  openChart,
  overrideCard,
  renderedSummaries,
  sandboxPublicJwk,
  sandboxUnavailable,
  sandboxUrl,
  serveSandbox,
  startService,
  type HookExchange,
  type Running,
  type RunningService,
} from '../support/sandbox.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { hbsagPositiveChild, pregnantGirl } from '../cards/issue-18-patients.js';
import { PAGING_PATIENT, callHook, examplePatients, fhirBaseUrl, loadIntoHapi, pagingPatientBundle, skipNote } from './hapi-support.js';

const unavailable = fhirBaseUrl ? sandboxUnavailable() : '';
const skip = !fhirBaseUrl || unavailable !== '';
const note = skipNote || (unavailable ? ` (skipped: ${unavailable})` : '');
const LIKELY = 'sle-child-likely';
const HBSAG_POSITIVE = 'sle-child-hbsag-positive';
const PREGNANT = 'sle-child-pregnant';

const PAGED_STATEMENTS = 'sandbox-paged-statements';
const OTC_STATEMENTS = 205;

/**
 * test/clinical/records/data-paged-31-medication-statements.json (the issue's case) under another id, with
 * 205 over-the-counter MedicationStatements before its six SLE drugs: HAPI's first page (200, insertion order)
 * holds only OTC drugs, so the trials' drug criteria are decided by page 2, which the sandbox never sends.
 */
function pagedStatementsBundle(): Bundle {
  const record = readFileSync(resolve(ROOT, 'test', 'clinical', 'records', 'data-paged-31-medication-statements.json'), 'utf8');
  const bundle = JSON.parse(record.replaceAll('data-paged-31', PAGED_STATEMENTS)) as Bundle;
  const entries = bundle.entry ?? [];
  const otc = entries.find((e) => e.resource?.id === `${PAGED_STATEMENTS}-otc-00`)!;
  const firstDrug = entries.findIndex((e) => e.resource?.id?.startsWith(`${PAGED_STATEMENTS}-med-`));
  const already = entries.filter((e) => e.resource?.id?.includes('-otc-')).length;
  const more = Array.from({ length: OTC_STATEMENTS - already }, (_, i) => ({
    resource: { ...otc.resource!, id: `${PAGED_STATEMENTS}-otc-x${String(i).padStart(3, '0')}` },
  }));
  return { ...bundle, entry: [...entries.slice(0, firstDrug), ...more, ...entries.slice(firstDrug)] };
}

/**
 * Every example; sle-child-likely again with 274 Observations (page 1 holds the newest, page 2 older ones); and
 * the record whose SLE drugs are only on page 2 of its MedicationStatements.
 */
function testPatients(): { id: string; bundle: Bundle }[] {
  if (!fhirBaseUrl) return [];
  const child = examplePatients().find((p) => p.id === LIKELY)!.bundle;
  return [
    ...examplePatients(),
    { id: PAGING_PATIENT, bundle: pagingPatientBundle() },
    { id: PAGED_STATEMENTS, bundle: pagedStatementsBundle() },
    // Issue 18's screenshot patients, at the examples' date (the service's clock here).
    { id: HBSAG_POSITIVE, bundle: hbsagPositiveChild(child, ANCHOR) },
    { id: PREGNANT, bundle: pregnantGirl(child, ANCHOR) },
  ];
}

/** What identifies a card across two responses: its trial and status (the uuids differ per response). */
function trialStatus(cards: readonly any[]): string[] {
  return cards.map((c) => `${c.source.topic.code} ${c.extension[EXTENSION_KEY].status}`).sort();
}

/** Everything one test run needs: HAPI loaded, the service, the sandbox's static server, one browser profile. */
interface Rig {
  service: RunningService;
  sandbox: Running;
  context: BrowserContext;
  /** The same app with full prefetch through app.inject: the cards a patient should get. */
  baselineApp: FastifyInstance;
  close: () => Promise<void>;
}

async function startRig(): Promise<Rig> {
  const response = await loadIntoHapi(testPatients().map((p) => p.bundle));
  expect(response.type).toBe('transaction-response');
  // The sandbox first: its origin is the one the service's CORS allowlist (the trust file's corsOrigins,
  // issue #12 item 1) lets in; any other origin gets no allow-origin header.
  const sandbox = await serveSandbox();
  const service = await startService({ trust: (t) => ({ ...t, corsOrigins: [sandbox.url] }) });
  const browser = await launchBrowser(CHROMIUM);
  const baselineApp = testApp();
  await baselineApp.ready();
  return {
    service,
    sandbox,
    context: browser.context,
    baselineApp,
    close: async () => {
      await browser.close();
      await sandbox.close();
      await service.close();
      await baselineApp.close();
    },
  };
}

async function fullPrefetchCards(rig: Rig, id: string): Promise<any[]> {
  const bundle = testPatients().find((p) => p.id === id)?.bundle;
  if (!bundle) throw new Error(`no test patient ${id}`);
  const res = await callHook(rig.baselineApp, hookRequest(id, { prefetch: prefetchFor(bundle) }));
  expect(res.statusCode, res.body).toBe(200);
  return res.json().cards as any[];
}

/** A chart open: a new page in the rig's browser profile, on the patient, until the cards are shown. */
async function open(rig: Rig, id: string): Promise<{ page: Page; exchange: HookExchange; errors: string[] }> {
  const page = await rig.context.newPage();
  const errors = watchErrors(page);
  const exchange = await openChart(page, sandboxUrl(rig.sandbox, fhirBaseUrl, id, rig.service.url), rig.service.url);
  expect(exchange.status, JSON.stringify(exchange.cards)).toBe(200);
  return { page, exchange, errors };
}

/** The card the sandbox shows for a trial, found by the summary the service gave it. */
function shownCard(page: Page, exchange: HookExchange, trialId: string) {
  const card = exchange.cards.find((c) => c.source.topic.code === trialId);
  if (!card) throw new Error(`no card for ${trialId}`);
  return { card, element: cardWithSummary(page, card.summary as string) };
}

async function feedbackCounts(service: RunningService, trialId: string): Promise<{ accepted: number; overridden: number; overrideReasons: Record<string, number> }> {
  const res = await getAsSandbox(service, `/trials/${trialId}/feedback`);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json;
}

describe.skipIf(skip)(`the CDS Hooks sandbox as the EHR, against HAPI FHIR${note}`, () => {
  let rig: Rig;
  /** Each patient's first chart open, before any feedback: what the sandbox sent, got and showed. */
  const charts = new Map<string, { exchange: HookExchange; shown: string[]; expected: any[]; errors: string[] }>();

  beforeAll(async () => {
    rig = await startRig();
    for (const { id } of testPatients()) {
      const { page, exchange, errors } = await open(rig, id);
      charts.set(id, { exchange, shown: await renderedSummaries(page), expected: await fullPrefetchCards(rig, id), errors });
      await page.close();
    }
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('shows, for every example patient, the cards the service gives with full prefetch', () => {
    for (const { id } of testPatients()) {
      const chart = charts.get(id)!;
      // The sandbox's first pages plus what the service read from fhirServer: the same trials and statuses.
      expect(trialStatus(chart.exchange.cards), id).toEqual(trialStatus(chart.expected));
      // ... and the sandbox renders every one of them, with the summary the service wrote.
      expect([...chart.shown].sort(), id).toEqual(chart.expected.map((c) => c.summary as string).sort());
    }
    // Not vacuous: the likely-eligible child has cards, the adult without SLE none.
    expect(charts.get(LIKELY)!.shown.length).toBeGreaterThan(0);
    expect(charts.get('adult-no-sle')!.shown).toEqual([]);
  });

  it('gets HAPI’s first page as prefetch, with no token, and the service reads the rest from fhirServer', () => {
    const { request, cards } = charts.get(PAGING_PATIENT)!.exchange;
    expect(request.hook).toBe('patient-view');
    expect(request.context.patientId).toBe(PAGING_PATIENT);
    expect(request.fhirServer).toBe(fhirBaseUrl);
    expect(request.fhirAuthorization).toBeUndefined();
    // Every discovery key was filled, each from the FHIR server as it answered.
    expect(Object.keys(request.prefetch).sort()).toEqual(
      ['conditions', 'immunizations', 'medicationAdministrations', 'medicationDispenses', 'medicationRequests', 'medicationStatements', 'observations', 'patient', 'procedures'],
    );
    expect(request.prefetch.patient).toMatchObject({ resourceType: 'Patient', id: PAGING_PATIENT });
    // 274 Observations match; the sandbox sent the first page of 200 and its `next` link, not the rest.
    const observations = request.prefetch.observations as Bundle;
    expect(observations.resourceType).toBe('Bundle');
    expect(observations.entry).toHaveLength(200);
    expect(observations.link?.find((l) => l.relation === 'next')?.url).toMatch(/_getpages=/);
    // Empty searches come as a Bundle with no entries, not null.
    expect(request.prefetch.immunizations).toMatchObject({ resourceType: 'Bundle' });
    expect(request.prefetch.immunizations.entry ?? []).toEqual([]);
    // The record is sle-child-likely's plus older results: once the rest is read, the same trials and statuses.
    expect(trialStatus(cards)).toEqual(trialStatus(charts.get(LIKELY)!.exchange.cards));
  });

  it('gets the cards of full prefetch when what decides them is only on the page the sandbox did not send', () => {
    const { exchange, expected } = charts.get(PAGED_STATEMENTS)!;
    const statements = exchange.request.prefetch.medicationStatements as Bundle;
    expect(statements.entry).toHaveLength(200);
    expect(statements.entry!.every((e) => e.resource!.id!.includes('-otc-'))).toBe(true);
    expect(statements.link?.some((l) => l.relation === 'next')).toBe(true);
    expect(expected.length).toBeGreaterThan(0);
    // The drug criteria (e.g. blinatumomab inclusion 4, the treatments tried) read the SLE drugs of page 2.
    // Checked by hand: with FHIR_MAX_PAGES=1 (the service cannot read page 2) this and the test above fail.
    const criteria = (cards: any[]) => cards.map((c) => `${c.source.topic.code} ${c.extension[EXTENSION_KEY].criteria.map((k: any) => `${k.id}:${k.result}`).join(',')}`).sort();
    expect(criteria(exchange.cards)).toEqual(criteria(expected));
  });

  it('signs every call with the sandbox’s ES384 key: iss, aud the URL called, exp 300 s after iat, jti; no sub', async () => {
    // The inline key in config/trust.test.json is the public half of the key the sandbox signs with.
    const trusted = JSON.parse(readFileSync(TEST_TRUST_FILE, 'utf8')).issuers[0].jwks.keys[0];
    expect(await sandboxPublicJwk()).toEqual({ crv: trusted.crv, x: trusted.x, y: trusted.y });

    const calls = rig.service.seen.filter((r) => r.method !== 'OPTIONS' && r.path.startsWith('/cds-services'));
    expect(calls.map((r) => r.path)).toEqual(expect.arrayContaining(['/cds-services', `/cds-services/${SERVICE_ID}`]));
    const jtis = new Set<unknown>();
    for (const r of calls) {
      const { header, claims } = decodeBearer(r.headers.authorization);
      expect(header).toEqual({ alg: 'ES384', typ: 'JWT', kid: SANDBOX_KID, jku: `${SANDBOX_ISSUER}/.well-known/jwks.json` });
      expect(Object.keys(claims).sort(), r.path).toEqual(['aud', 'exp', 'iat', 'iss', 'jti']);
      expect(claims.iss).toBe(SANDBOX_ISSUER);
      expect(claims.aud).toBe(`${rig.service.url}${r.path}`);
      expect(claims.exp! - claims.iat!).toBe(300);
      jtis.add(claims.jti);
    }
    // A fresh jti per call: the service's replay cache would refuse a repeat.
    expect(jtis.size).toBe(calls.length);
  });

  it('passes the sandbox’s CORS preflights: its origin, POST, authorization and content-type', async () => {
    const preflights = rig.service.seen.filter((r) => r.method === 'OPTIONS');
    const hook = preflights.find((r) => r.path === `/cds-services/${SERVICE_ID}`);
    expect(hook, 'no preflight for the hook call').toBeDefined();
    expect(hook!.headers.origin).toBe(rig.sandbox.url);
    expect(hook!.headers['access-control-request-method']).toBe('POST');
    expect(String(hook!.headers['access-control-request-headers']).split(',').sort()).toEqual(['authorization', 'content-type']);
    const discovery = preflights.find((r) => r.path === '/cds-services');
    expect(discovery!.headers['access-control-request-method']).toBe('GET');
    expect(discovery!.headers['access-control-request-headers']).toBe('authorization');

    // The same preflight again: the answer lets the sandbox's origin send the call.
    const answer = await fetch(`${rig.service.url}/cds-services/${SERVICE_ID}`, {
      method: 'OPTIONS',
      headers: { origin: rig.sandbox.url, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(rig.sandbox.url);
    expect(answer.headers.get('access-control-allow-headers')?.toLowerCase().split(/,\s*/).sort()).toEqual(['authorization', 'content-type']);
    expect(answer.headers.get('access-control-allow-methods')).toContain('POST');

    // A page on another origin (any site a clinician has open) is not let in.
    const foreign = await fetch(`${rig.service.url}/cds-services/${SERVICE_ID}`, {
      method: 'OPTIONS',
      headers: { origin: 'http://127.0.0.1:1', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('counts an override the clinician chose from the caret menu, with its reason code', async () => {
    const { page, exchange } = await open(rig, LIKELY);
    const { card, element } = shownCard(page, exchange, exchange.cards[0].source.topic.code);
    const trialId = card.source.topic.code as string;
    // A reason that does not hide the trial (the suppressing ones are the next describe block's).
    const reason = (card.overrideReasons as { system: string; code: string; display: string }[]).find((r) => overrideReason(r.code)?.suppresses !== true)!;
    expect(reason).toBeDefined();
    const before = await feedbackCounts(rig.service, trialId);

    const sent = nextFeedback(page, rig.service.url);
    await overrideCard(page, element, reason.display);
    const feedback = await sent;
    expect(feedback.status).toBe(200);
    expect(feedback.receipt).toMatchObject({ stored: 1, duplicates: 0, unknownCards: 0, rejected: [], suppressed: [] });
    expect(feedback.body.feedback).toEqual([
      { card: card.uuid, outcome: 'overridden', overrideReason: { reason: { code: reason.code, system: reason.system } }, outcomeTimestamp: expect.any(String) },
    ]);
    await expect.poll(() => element.count()).toBe(0);

    const after = await feedbackCounts(rig.service, trialId);
    expect(after.overridden).toBe(before.overridden + 1);
    expect(after.overrideReasons[reason.code]).toBe((before.overrideReasons[reason.code] ?? 0) + 1);
    expect(journalFeedback(rig.service.feedbackFile)).toContainEqual(expect.objectContaining({ card: card.uuid, trialId, outcome: 'overridden', reason: reason.code }));
    await page.close();
  });

  it('counts a Dismiss as overridden without a reason', async () => {
    const { page, exchange } = await open(rig, LIKELY);
    const { card, element } = shownCard(page, exchange, exchange.cards.at(-1).source.topic.code);
    const trialId = card.source.topic.code as string;
    const before = await feedbackCounts(rig.service, trialId);

    const sent = nextFeedback(page, rig.service.url);
    await dismissCard(element);
    const feedback = await sent;
    expect(feedback.status).toBe(200);
    expect(feedback.body.feedback).toEqual([{ card: card.uuid, outcome: 'overridden', outcomeTimestamp: expect.any(String) }]);
    await expect.poll(() => element.count()).toBe(0);

    const after = await feedbackCounts(rig.service, trialId);
    expect(after.overridden).toBe(before.overridden + 1);
    // Counted under no reason of the list (the store's "unspecified"): the other reasons' counts stay.
    const reasonless = Object.keys(after.overrideReasons).filter((k) => after.overrideReasons[k] !== before.overrideReasons[k]);
    expect(reasonless).toHaveLength(1);
    expect(overrideReason(reasonless[0]!)).toBeUndefined();
    expect(after.overrideReasons[reasonless[0]!]).toBe((before.overrideReasons[reasonless[0]!] ?? 0) + 1);
    expect(journalFeedback(rig.service.feedbackFile)).toContainEqual(expect.objectContaining({ card: card.uuid, trialId, outcome: 'overridden' }));
    expect(journalFeedback(rig.service.feedbackFile).find((e) => e.card === card.uuid)?.reason).toBeUndefined();
    await page.close();
  });

  it('renders a card legibly (the README screenshot)', async () => {
    const { page, exchange, errors } = await open(rig, LIKELY);
    const { card, element } = shownCard(page, exchange, exchange.cards[0].source.topic.code);
    await expect.poll(() => element.getByText(card.summary as string, { exact: true }).isVisible()).toBe(true);
    // The sandbox's header is fixed: a card taller than the window would be shot under it. So the window is
    // made as tall as the page, and the shot is the sandbox's header and patient banner down to the card's end.
    const box = (await element.boundingBox())!;
    expect(box.height).toBeGreaterThan(50);
    await page.setViewportSize({ width: 1440, height: Math.ceil(box.y + box.height + 24) });
    await page.screenshot({ path: screenshotPath('sandbox-page'), fullPage: true });
    // Into test-output/ (ignored): `npm run screenshots` copies it to docs/screenshot-sandbox-card.png for the README.
    const top = (await element.boundingBox())!;
    await page.screenshot({ path: screenshotPath('sandbox-card'), clip: { x: 0, y: 0, width: Math.ceil(top.x + top.width + 16), height: Math.ceil(top.y + top.height + 12) } });
    // The sandbox's own start-up noise (its unreachable public services, the missing styles.css) aside, the
    // page reports no errors about this service.
    expect(errors.filter((e) => e.includes(rig.service.url))).toEqual([]);
    await page.close();
  });

  for (const [which, id] of [['hbsag-positive', HBSAG_POSITIVE], ['pregnant', PREGNANT]] as const) {
    it(`shows issue 18's ${which} patient's cards, the one draft-order suggestion at most once (screenshots)`, async () => {
      const { page, exchange } = await open(rig, id);
      // Every card shown offers the referral (issue #19 item 4); the draft orders ride on one card at most.
      expect(exchange.cards.filter((c) => (c.suggestions as { label: string }[] | undefined)?.some((s) => s.label.startsWith(ORDER_SUGGESTION_LABEL))).length).toBeLessThanOrEqual(1);
      if (which === 'hbsag-positive') {
        // Issue 18 item 4: the positive is named first, with its date, on both CAR-T cards.
        expect(exchange.cards.filter((c) => /: Hepatitis B surface antigen positive \d{4}-\d{2}-\d{2} in the record$/.test(c.summary as string))).toHaveLength(2);
      }
      const { card, element } = shownCard(page, exchange, exchange.cards[0].source.topic.code);
      await expect.poll(() => element.getByText(card.summary as string, { exact: true }).isVisible()).toBe(true);
      const box = (await element.boundingBox())!;
      await page.setViewportSize({ width: 1440, height: Math.ceil(box.y + box.height + 24) });
      await page.screenshot({ path: screenshotPath(`sandbox-${which}`), fullPage: true });
      await page.close();
    });
  }
});

/**
 * Issue #11 item 3, seen from the EHR: after an override with a suppressing reason ("already screened for this
 * trial"), the next chart open for that patient shows no card for that trial; the patient's other trials and
 * other patients' cards for the same trial stay. Its own service and browser profile, so no other test's
 * feedback reaches it. Fails until the suppression lands (src/store, src/cds/feedback.ts).
 */
describe.skipIf(skip)(`the sandbox after an "already screened" override, on the next chart open${note}`, () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('shows no card for that trial to that patient, and still shows the others', async () => {
    const first = await open(rig, LIKELY);
    expect(first.exchange.cards.length).toBeGreaterThan(1);
    const { card, element } = shownCard(first.page, first.exchange, first.exchange.cards[0].source.topic.code);
    const trialId = card.source.topic.code as string;
    const reason = (card.overrideReasons as { code: string; display: string }[]).find((r) => r.code === 'already-screened');
    expect(reason, 'the card offers "already screened"').toBeDefined();
    expect(overrideReason('already-screened')?.suppresses).toBe(true);

    const sent = nextFeedback(first.page, rig.service.url);
    await overrideCard(first.page, element, reason!.display);
    const receipt = (await sent).receipt;
    expect(receipt).toMatchObject({ stored: 1, suppressed: [{ trialId, until: expect.any(String) }] });
    await first.page.close();

    const again = await open(rig, LIKELY);
    const trials = again.exchange.cards.map((c) => c.source.topic.code as string);
    expect(trials).not.toContain(trialId);
    expect(await renderedSummaries(again.page)).not.toContain(card.summary);
    // Only that trial: the patient's other cards are still there.
    expect(trialStatus(again.exchange.cards)).toEqual(trialStatus(first.exchange.cards.filter((c) => c.source.topic.code !== trialId)));
    await again.page.close();

    // Only that patient: the same record under another id still gets the trial's card.
    const other = await open(rig, PAGING_PATIENT);
    expect(other.exchange.cards.map((c) => c.source.topic.code)).toContain(trialId);
    await other.page.close();
  });
});
