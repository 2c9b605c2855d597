import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSION_KEY, SMART_LINK_LABEL } from '../../src/cds/render-cards.js';
import { SCREENING_AID } from '../../src/cds/cards/detail.js';
import { ORDER_SUGGESTION_LABEL } from '../../src/cds/cards/suggestions.js';
import { OVERRIDE_REASONS, OVERRIDE_REASON_SYSTEM } from '../../src/cds/override-reasons.js';
import { BELIMUMAB_RECRUITING, ROOT, exampleBundle, exampleIds, testApp } from '../support/app.js';
import { expectValidCard } from '../support/card-rules.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

const SERVICE = '/cds-services/trialmatch-sle';
/** A card's draft-order suggestion; the referral on every card shown is tested in test/coordinator/referral.test.ts. */
const orders = (c: any): any[] => (c.suggestions ?? []).filter((s: any) => s.label.startsWith(ORDER_SUGGESTION_LABEL));
const RECORDS = resolve(ROOT, 'test', 'clinical', 'records');
const ORDERABLES = JSON.parse(readFileSync(resolve(ROOT, 'fhir-mappings', 'orderables.json'), 'utf8')) as {
  tests: { id: string; short: string; valueSets: string[]; category: string; order?: { system: string; code: string; display: string } }[];
};

/**
 * Wording the renderer used to put on cards, or that the engine writes for the app: how a code was matched,
 * defaults and fallbacks, faults and their transport details, the engine's own reason codes (issue #11).
 */
const INTERNAL_WORDING = [
  'matched by name',
  'its code is not in the list',
  'not in the list',
  'default ULN',
  'reference range',
  'fallback',
  'fault',
  'fhirServer',
  'prefetch',
  'first page',
  'HTTP ',
  'OperationOutcome',
  'took longer than',
  'for review (',
  '(judgement)',
  '(screening-test)',
  '(not-coded)',
  '(consent)',
  'not in the record in the last',
  'checked at screening',
  'prednisone equivalent',
  'mg/kg/day at',
  'none found in the record',
  'Missing data that would decide it',
  'Criteria met',
  '{score}',
];

describe('cards a clinician reads in five seconds (issue #11)', () => {
  let app: FastifyInstance;
  /** label ("example sle-child-likely", "record meds-topical") -> { cards, trace by trial, patient id } */
  const seen = new Map<string, { cards: any[]; traces: Map<string, any>; patientId: string }>();

  async function fire(bundle: any): Promise<{ cards: any[]; traces: Map<string, any>; patientId: string }> {
    const patientId = patientIdOf(bundle);
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientId, { prefetch: prefetchFor(bundle) }) });
    expect(res.statusCode).toBe(200);
    const evaluated = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle });
    expect(evaluated.statusCode).toBe(200);
    const traces = new Map<string, any>((evaluated.json().trials as any[]).map((t) => [t.trialId, t]));
    return { cards: res.json().cards, traces, patientId };
  }

  beforeAll(async () => {
    // The belimumab study is "Not yet recruiting" in its document (no card, issue #19 item 3); its card is read
    // here as a site whose ClinicalTrials.gov record says it recruits.
    app = testApp({}, BELIMUMAB_RECRUITING);
    await app.ready();
    for (const id of exampleIds()) seen.set(`example ${id}`, await fire(exampleBundle(id)));
    for (const f of readdirSync(RECORDS).filter((x) => x.endsWith('.json'))) {
      seen.set(`record ${f}`, await fire(JSON.parse(readFileSync(resolve(RECORDS, f), 'utf8'))));
    }
    // About 190 requests (94 records, hook and $evaluate each): 6-11 s on a loaded 2-core machine, past the
    // default 10 s hook timeout on a fresh clone (issue #21 item 3: npm test passes on a fresh machine).
  }, 60_000);
  afterAll(() => app.close());

  const all = (): [string, any, any, string][] =>
    [...seen].flatMap(([label, s]) => s.cards.map((c) => [label, c, s.traces.get(c.source.topic.code), s.patientId] as [string, any, any, string]));
  const cardOf = (label: string, trialId: string): any => seen.get(label)!.cards.find((c) => c.source.topic.code === trialId);

  it('keeps every CDS Hooks card rule, for every example patient and test record', () => {
    expect(all().length).toBeGreaterThan(30);
    for (const [label, card] of all()) {
      try {
        expectValidCard(card);
      } catch (err) {
        throw new Error(`${label} ${card.source.topic.code}: ${(err as Error).message}`);
      }
    }
  });

  it('names the status, the trial and the one thing that decides it in a summary under 140 characters', () => {
    for (const [label, card, trace] of all()) {
      const where = `${label} ${card.source.topic.code}: ${card.summary}`;
      expect(card.summary.length, where).toBeLessThan(140);
      expect(card.summary, where).toMatch(/^(Likely|Possibly) eligible: /);
      expect(card.summary, where).toContain(`: ${card.source.topic.display}: `);
      const unknown = (trace.criteria as any[]).filter((c) => c.outcome === 'unknown');
      // Issue 18 item 5: never "meets every criterion"; a possibly-eligible trial says what is missing, else
      // what the team checks or judges; a likely one only that no exclusion was found in the coded record.
      expect(card.summary, where).not.toMatch(/meets every criterion/);
      const facts = (trace.criteria as any[]).filter((c) => c.type === 'exclusion' && c.facts?.length);
      // Issue 18 item 4: a positive the record holds is named first, never hidden behind what is missing.
      if (facts.length > 0) expect(card.summary, where).toMatch(/ in the record$/);
      else if (unknown.length > 0) expect(card.summary, where).toMatch(/ needed$/);
      else if (trace.status === 'possibly-eligible') expect(card.summary, where).toMatch(/: (check .+|.+ in the record|\d+ judgements? for the study team)$/);
      else expect(card.summary, where).toMatch(/: no exclusion found in the coded record$/);
    }
    expect(cardOf('example sle-teen-missing-tests', 'nct06789107-blinatumomab').summary).toBe(
      'Possibly eligible: Blinatumomab for refractory SLE (NCT06789107): liver tests, SLEDAI-2K and 6 more needed',
    );
    expect(cardOf('example sle-adult-belimumab', 'nct04893161-belimumab-response').summary).toBe(
      'Possibly eligible: Belimumab response model, adults (NCT04893161): 24-hour urine protein needed',
    );
    expect(cardOf('example sle-child-likely', 'zju-cd19-car-t-csle').summary).toBe(
      'Possibly eligible: CD19 CAR-T for refractory childhood SLE: 4 judgements for the study team',
    );
  });

  it('keeps the detail to at most six lines, ending with the screening-aid sentence', () => {
    for (const [label, card] of all()) {
      const lines = (card.detail as string).split('\n').filter((l) => l.trim() !== '');
      expect(lines.length, `${label} ${card.source.topic.code}`).toBeLessThanOrEqual(6);
      expect(lines.at(-1)).toBe(SCREENING_AID);
    }
  });

  it('shows no internal wording, ids, resource references, date-times or UCUM annotations', () => {
    for (const [label, card] of all()) {
      const where = `${label} ${card.source.topic.code}`;
      for (const text of [card.summary, card.detail]) {
        for (const phrase of INTERNAL_WORDING) expect(text, `${where}: "${phrase}"`).not.toContain(phrase);
        expect(text, where).not.toMatch(/\b(inc|exc)-\d/);
        expect(text, where).not.toMatch(/\b(Observation|Condition|MedicationStatement|MedicationRequest|MedicationAdministration|MedicationDispense|Procedure|Immunization|Patient)\b/);
        expect(text, where).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:/);
        expect(text, where).not.toContain(card.source.topic.code);
      }
    }
  });

  it('takes every date on the card from the evidence $evaluate shows for that trial (safety rule 4)', () => {
    let dated = 0;
    for (const [label, card, trace] of all()) {
      const evidence = (trace.criteria as any[]).flatMap((c) => [...c.evidence, ...c.parts.flatMap(function walk(p: any): any[] { return [...p.evidence, ...(p.parts ?? []).flatMap(walk)]; })]);
      const known = new Set(evidence.flatMap((e: any) => [e.date?.slice(0, 10), /born (\d{4}-\d{2}-\d{2})/.exec(e.note ?? '')?.[1]]).filter(Boolean));
      for (const date of (card.detail as string).match(/\d{4}-\d{2}-\d{2}/g) ?? []) {
        expect(known.has(date), `${label} ${card.source.topic.code}: ${date}`).toBe(true);
        dated += 1;
      }
    }
    expect(dated).toBeGreaterThan(20);
    const blina = cardOf('example sle-child-likely', 'nct06789107-blinatumomab');
    expect(blina.detail).toContain('SLEDAI-2K total score 12 (2026-11-13)');
    expect(blina.detail).toContain('predniSONE 5 MG Oral Tablet, current since 2026-08-25');
  });

  it('ranks the tests that settle the open criteria by how many criteria and trials each settles', () => {
    const blina = cardOf('example sle-teen-missing-tests', 'nct06789107-blinatumomab');
    const line = (blina.detail as string).split('\n').find((l) => l.startsWith('**Would settle it:**'))!;
    expect(line).toMatch(/^\*\*Would settle it:\*\* hepatic function panel \(AST, ALT, bilirubin\) \(3 criteria, 3 trials\); /);
    // The CBC settles one criterion of one trial: after the tests every paediatric trial waits on.
    expect(line).not.toContain('CBC');
    expect(line).toMatch(/; 4 more in the full check\.$/);
    const counts = [...line.matchAll(/\((\d+) criteria, (\d+) trials\)/g)].map((m) => Number(m[1]));
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
  });

  it('counts the study team items in one line, their list left to the app', () => {
    const card = cardOf('example sle-child-likely', 'nct06789107-blinatumomab');
    const reviewItems = (seen.get('example sle-child-likely')!.traces.get('nct06789107-blinatumomab').criteria as any[]).flatMap((c) => c.open.filter((p: any) => p.outcome === 'review'));
    expect(card.detail).toContain(`**${reviewItems.length} items for the study team** (consent, screening tests, judgement, not in the record), listed in the full check.`);
  });

  it('links the registry and the SMART app for the trial, and offers the honoured override reasons', () => {
    for (const [label, card] of all()) {
      const smart = card.links.find((l: any) => l.type === 'smart');
      expect(smart, label).toMatchObject({ label: SMART_LINK_LABEL, url: 'http://localhost:3000/smart/launch.html', appContext: JSON.stringify({ trialId: card.source.topic.code }) });
      expect(card.links[0].type).toBe('absolute');
      expect(card.source.url).toBe('http://localhost:3000/');
      expect(card.overrideReasons).toEqual(OVERRIDE_REASONS.map((r) => ({ system: OVERRIDE_REASON_SYSTEM, code: r.code, display: r.display })));
    }
  });

  it('carries status and per-criterion results in the extension, without the evidence', () => {
    for (const [label, card, trace] of all()) {
      const ext = card.extension[EXTENSION_KEY];
      expect(ext, label).toMatchObject({ trialId: trace.trialId, status: trace.status, evaluatedAt: trace.evaluatedAt, statusReason: { code: trace.statusReason.code } });
      expect(trace.statusReason.text.startsWith(ext.statusReason.text.replace(/…$/, ''))).toBe(true);
      expect(ext.criteria).toEqual((trace.criteria as any[]).map((c) => ({ id: c.id, result: c.result, ...(c.review ? { review: true } : {}), ...(c.facts?.length ? { facts: c.facts.map((f: { text: string }) => f.text) } : {}) })));
      expect(JSON.stringify(card.extension)).not.toMatch(/"(evidence|missing|reference|parts|reason)"/);
    }
  });

  it('offers draft orders only for possibly-eligible trials whose open criteria need laboratory or imaging tests, on one card per patient', () => {
    const orderable = new Map(ORDERABLES.tests.filter((t) => t.order).map((t) => [`${t.order!.system}|${t.order!.code}`, t]));
    let actions = 0;
    for (const [label, card, trace, patientId] of all()) {
      const where = `${label} ${card.source.topic.code}`;
      if (orders(card).length === 0) continue;
      expect(trace.status, where).toBe('possibly-eligible');
      expect(orders(card), where).toHaveLength(1);
      expect(seen.get(label)!.cards.filter((c) => orders(c).length > 0), where).toHaveLength(1);
      const [s] = orders(card);
      expect(s.label.startsWith(ORDER_SUGGESTION_LABEL)).toBe(true);
      for (const a of s.actions) {
        actions += 1;
        expect(a.type).toBe('create');
        expect(a.description).toBeTruthy();
        expect(a.resource).toMatchObject({ resourceType: 'ServiceRequest', status: 'draft', intent: 'proposal', subject: { reference: `Patient/${patientId}` } });
        const [coding] = a.resource.code.coding;
        const test = orderable.get(`${coding.system}|${coding.code}`);
        expect(test, `${where}: ${coding.code}`).toBeDefined();
        expect(['laboratory', 'imaging']).toContain(test!.category);
        expect(coding.display).toBe(test!.order!.display);
      }
      expect(new Set(s.actions.map((a: any) => a.resource.code.coding[0].code)).size, where).toBe(s.actions.length);
    }
    expect(actions).toBeGreaterThan(5);
    // Likely cards never order; the teen with missing tests gets the panels, the echocardiogram, the CBC.
    for (const [, card, trace] of all()) if (trace.status === 'likely-eligible') expect(orders(card)).toEqual([]);
    const carrier = seen.get('example sle-teen-missing-tests')!.cards.find((c) => orders(c).length > 0);
    const codes = orders(carrier)[0].actions.map((a: any) => a.resource.code.coding[0].code);
    // Ranked by how many criteria and trials each settles (rankNeeds), across the three cards.
    expect(codes).toEqual(['24325-3', '40701008', '2160-0', '57021-8', '8116-6', '2465-3']);
    // SLEDAI-2K, SpO2 and body weight are open too, but they are no laboratory or imaging order.
    expect(cardOf('example sle-teen-missing-tests', 'zju-cd19-car-t-csle').summary).toMatch(/needed$/);
  });

  it('answers the typical patient (sle-child-likely, full prefetch) in under 8 KiB', async () => {
    const request = await app.inject({ method: 'GET', url: '/examples/sle-child-likely/hook-request' });
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: request.json() });
    expect(res.statusCode).toBe(200);
    expect(res.json().cards).toHaveLength(3);
    // Issue #19 adds two things to each card: the site's study contact (and a stale registry status) in the
    // detail (item 3), and the "Refer to the study team" suggestion (item 4, a draft ServiceRequest to the study
    // contact). The rest of the answer stays under issue #11's 8 KiB, and each addition is bounded on its own:
    // the whole answer is 10,859 bytes, 8,643 without the referrals and 8,174 without either.
    const cards = res.json().cards as any[];
    const siteLines = cards.map((c) => /\n\n\*\*Study contact:\*\*[^\n]*/.exec(c.detail)?.[0] ?? '');
    for (const line of siteLines) expect(line.length).toBeLessThan(170);
    const siteBytes = siteLines.reduce((n, line) => n + Buffer.byteLength(JSON.stringify(line)) - 2, 0);
    const referrals = cards.map((c) => (c.suggestions ?? []).filter((s: any) => s.label === 'Refer to the study team'));
    for (const r of referrals) expect(r).toHaveLength(1);
    // A card's referral costs its suggestion, a comma, and `"selectionBehavior":"at-most-one"` when it is the only one.
    const referralBytes = cards.map((c, i) => Buffer.byteLength(JSON.stringify(referrals[i]![0])) + 1 + (c.suggestions.length === 1 ? Buffer.byteLength('"suggestions":[],"selectionBehavior":"at-most-one",') : 0));
    for (const n of referralBytes) expect(n).toBeLessThan(800);
    expect(Buffer.byteLength(res.payload) - siteBytes - referralBytes.reduce((a, b) => a + b, 0)).toBeLessThan(8 * 1024);
  });

  it('calls no example patient likely while an inclusion waits on a judgement of the record (issue 18 item 5)', () => {
    for (const [label, card, trace] of all()) {
      const judged = (trace.criteria as any[]).some((c) => c.type === 'inclusion' && c.open.some((p: any) => p.kind === 'review' && p.reason === 'for review (judgement)'));
      if (judged) expect(trace.status, `${label} ${card.source.topic.code}`).toBe('possibly-eligible');
    }
  });

  it('escapes markup that comes from the record, so the EHR renders it as text', async () => {
    const bundle = exampleBundle('sle-child-likely') as any;
    for (const e of bundle.entry) {
      const med = e.resource.medicationCodeableConcept;
      if (med?.text === 'predniSONE 5 MG Oral Tablet') {
        med.text = '<img src=x onerror=alert(1)> *predniSONE* 5 MG [x](javascript:alert(1))';
        for (const c of med.coding ?? []) c.display = med.text;
      }
    }
    const { cards } = await fire(bundle);
    const blina = cards.find((c) => c.source.topic.code === 'nct06789107-blinatumomab');
    expect(blina.detail).toContain('\\<img src=x onerror=alert(1)\\> \\*predniSONE\\* 5 MG \\[x\\](javascript:alert(1))');
    expect(blina.detail).not.toMatch(/(^|[^\\])<img/);
  });
});
