import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { EXTENSION_KEY, TRIAL_TOPIC_SYSTEM, openItemCount, renderCards } from '../../src/cds/render-cards.js';
import { trialStatus } from '../../src/engine/evaluate-trial.js';
import type { CriterionResult, PartResult, TrialEvaluation } from '../../src/engine/types.js';
import { TRIAL } from '../support/clinical.js';
import { exampleBundle, testApp } from '../support/app.js';
import { evaluate, realMappings } from '../support/evaluate.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { hbsagPositiveChild, pregnantGirl } from './issue-18-patients.js';
import { daysAgo } from '../../scripts/fhir-builders.js';
import { ORDER_SUGGESTION_LABEL } from '../../src/cds/cards/suggestions.js';

/** A card's draft-order suggestion (the referral, on every card shown, is tested in test/coordinator/referral.test.ts). */
const orders = (c: any): any[] => (c.suggestions ?? []).filter((s: any) => s.label.startsWith(ORDER_SUGGESTION_LABEL));

/**
 * Issue 18 items 5 and 6: "likely" only when the record bears it out, and cards a clinician can act on
 * (ranked, one draft per test across all cards, no item a settled branch made moot, the positives the
 * record holds said first).
 */
const SERVICE = '/cds-services/trialmatch-sle';

async function hook(app: FastifyInstance, id: string): Promise<any[]> {
  const bundle = exampleBundle(id);
  const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
  expect(res.statusCode).toBe(200);
  return res.json().cards;
}

async function traces(app: FastifyInstance, id: string): Promise<Map<string, any>> {
  const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: exampleBundle(id) });
  expect(res.statusCode).toBe(200);
  return new Map((res.json().trials as any[]).map((t) => [t.trialId, t]));
}

function leafOf(id: string, outcome: PartResult['outcome'], reason: string, evidence: PartResult['evidence'] = []): PartResult {
  return { id, label: id, kind: reason.startsWith('for review') ? 'review' : 'measurement', outcome, reason, evidence };
}

/** A criterion as the engine assembles it, from its open leaves (the rest met). */
function criterion(id: string, outcome: CriterionResult['outcome'], open: PartResult[] = [], extra: Partial<CriterionResult> = {}): CriterionResult {
  const type = id.startsWith('inc-') ? 'inclusion' : 'exclusion';
  return {
    id,
    type,
    item: id.slice(4),
    text: id,
    interpretation: id,
    anchor: 'screening',
    result: outcome === 'review' ? 'unknown' : outcome,
    review: open.some((p) => p.outcome === 'review'),
    outcome,
    reason: '',
    evidence: [],
    missing: [],
    parts: open,
    open,
    ...extra,
  };
}

describe('"likely" means what it says (issue 18 item 5)', () => {
  const consent = leafOf('inc-9', 'review', 'for review (consent)');
  const ecg = leafOf('inc-7.ecg', 'review', 'for review (screening-test)');
  const refractory = leafOf('inc-4.inadequate', 'review', 'for review (judgement)');

  it('is likely when only consent and the screening visit remain, and says no exclusion was found, not that every criterion is met', () => {
    const r = trialStatus([criterion('inc-1', 'met'), criterion('inc-7', 'review', [ecg]), criterion('inc-9', 'review', [consent]), criterion('exc-1', 'not-met'), criterion('exc-22', 'review', [leafOf('exc-22', 'review', 'for review (judgement)')])]);
    expect(r.status).toBe('likely-eligible');
    expect(r.statusReason).toMatchObject({ code: 'no-exclusion-found', codes: ['no-exclusion-found'] });
    expect(r.statusReason.text).toBe('no exclusion found in the coded record');
    expect(r.statusReason.text).not.toMatch(/meets every criterion/);
  });

  it('is at most possibly while an inclusion waits on a judgement of the record (refractory disease)', () => {
    const r = trialStatus([criterion('inc-1', 'met'), criterion('inc-4', 'review', [refractory]), criterion('inc-9', 'review', [consent])]);
    expect(r.status).toBe('possibly-eligible');
    expect(r.statusReason).toMatchObject({ code: 'judgement-open', criteria: ['inc-4'], items: ['Inclusion 4: inc-4.inadequate'] });
  });

  it('is at most possibly when an exclusion holds a positive outside its window, or a finding for the study team', () => {
    const fact = { kind: 'prior-positive' as const, text: 'HBsAg positive 2026-08-03', evidence: { reference: 'Observation/hbsag', display: 'HBsAg', value: 'positive', date: '2026-08-03' } };
    const withFact = trialStatus([criterion('inc-1', 'met'), criterion('exc-8', 'review', [leafOf('exc-8.hbsag', 'review', 'checked at screening')], { facts: [fact] })]);
    expect(withFact.status).toBe('possibly-eligible');
    expect(withFact.statusReason).toMatchObject({ code: 'prior-positive', criteria: ['exc-8'], items: ['Exclusion 8: HBsAg positive 2026-08-03'] });
    const finding = trialStatus([criterion('exc-6', 'review', [leafOf('exc-6.past', 'review', 'Rituximab: found', [{ reference: 'MedicationStatement/1', display: 'rituximab', date: '2026-03-28' }])])]);
    expect(finding).toMatchObject({ status: 'possibly-eligible', statusReason: { code: 'exclusion-finding', criteria: ['exc-6'] } });
  });

  it('does not take who an exclusion applies to (a girl) for a finding, nor a met record below a "not"', () => {
    const female = { ...leafOf('exc-18.female', 'met', 'female'), kind: 'sex', evidence: [{ reference: 'Patient/p', display: 'Sex', value: 'female' }] };
    const hcg = leafOf('exc-18.hcg', 'review', 'not in the record in the last 14 days: checked at screening');
    const girl = criterion('exc-18', 'review', [hcg], { parts: [{ id: 'exc-18', label: 'x', kind: 'all', outcome: 'review', reason: '', evidence: [], parts: [female, hcg] }] });
    expect(trialStatus([criterion('inc-1', 'met'), girl]).status).toBe('likely-eligible');
    const drug = { ...leafOf('exc-3.car-t', 'met', 'found'), kind: 'medication', evidence: [{ reference: 'MedicationStatement/1', display: 'CAR-T' }] };
    const negated = criterion('exc-3', 'review', [hcg], { parts: [{ id: 'exc-3.no', label: 'x', kind: 'not', outcome: 'not-met', reason: '', evidence: [], parts: [drug] }, hcg] });
    expect(trialStatus([negated]).status).toBe('likely-eligible');
    const positive = criterion('exc-7', 'review', [hcg], { parts: [{ ...drug, kind: 'lab-positive' }, hcg] });
    expect(trialStatus([positive]).statusReason.code).toBe('exclusion-finding');
  });

  it('names every reason, the most decisive first, and stays ineligible only on positive evidence', () => {
    const r = trialStatus([criterion('inc-4', 'review', [refractory]), criterion('inc-5', 'unknown', [leafOf('inc-5', 'unknown', 'no SLEDAI-2K')])]);
    expect(r.statusReason.codes).toEqual(['data-missing', 'judgement-open']);
    expect(r.statusReason.text).toBe('Inclusion 5: data missing; Inclusion 4: judgement of the record');
    expect(trialStatus([criterion('inc-2', 'not-met'), criterion('inc-4', 'review', [refractory])])).toMatchObject({ status: 'ineligible', blocking: ['inc-2'], statusReason: { code: 'inclusion-not-met' } });
  });
});

describe('cards a clinician can act on (issue 18 items 5 and 6), through the hook', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  it('no longer calls the example child "likely" while refractory disease is still for review, and says why in the extension and $evaluate', async () => {
    const cards = await hook(app, 'sle-child-likely');
    const trace = await traces(app, 'sle-child-likely');
    expect(cards.length).toBe(3);
    const blina = cards.find((c) => c.source.topic.code === TRIAL.blinatumomab);
    expect(blina.extension[EXTENSION_KEY]).toMatchObject({ status: 'possibly-eligible', statusReason: { code: 'judgement-open' } });
    expect(blina.extension[EXTENSION_KEY].statusReason.text).toBe('Inclusions 2, 4, 7: judgement of the record');
    expect(blina.summary).toBe('Possibly eligible: Blinatumomab for refractory SLE (NCT06789107): 3 judgements for the study team');
    const t = trace.get(TRIAL.blinatumomab);
    expect(t.statusReason).toMatchObject({ code: 'judgement-open', codes: ['judgement-open'], criteria: ['inc-2', 'inc-4', 'inc-7'] });
    expect(t.statusReason.items).toContain('Inclusion 4: Inadequate response to these treatments');
    for (const c of cards) expect(`${c.summary}\n${c.detail}`).not.toMatch(/meets every criterion/);
    // Every trial, shown or not, says why: ineligible ones on the criteria that decide it.
    expect(trace.get(TRIAL.belimumab).statusReason).toMatchObject({ code: 'inclusion-not-met', criteria: ['inc-2'] });
  });

  it('says a serum hCG of 15,200 mIU/mL 20 days ago on every card of a girl whose hCG 3 days ago is negative: the window decides, the positive is still shown', async () => {
    const bundle = pregnantGirl(exampleBundle('sle-child-likely'), ANCHOR);
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
    const cards = res.json().cards as any[];
    const when = daysAgo(20, ANCHOR);
    expect(cards.map((c) => c.source.topic.code).sort()).toEqual([TRIAL.blinatumomab, TRIAL.bcma, TRIAL.cd19].sort());
    for (const card of cards) {
      // Before: the pregnancy exclusion read only the negative test in its window, and the positive was nowhere.
      expect(card.extension[EXTENSION_KEY]).toMatchObject({ status: 'possibly-eligible', statusReason: { code: 'prior-positive' } });
      expect(card.summary).toMatch(new RegExp(`15,200 m\\[IU\\]/mL ${when} in the record$`));
      expect(card.detail).toContain('**Positive in the record:**');
    }
    // One result, said once with both items it bears on, in its shortest wording.
    const blina = cards.find((c) => c.source.topic.code === TRIAL.blinatumomab);
    expect(blina.detail).toContain(`Serum pregnancy test (hCG) 15,200 m\\[IU\\]/mL ${when} (Inclusion 8, Exclusion 18, outside its window)`);
    expect(blina.detail.match(/15,200/g)).toHaveLength(1);
  });

  it('keeps an HBsAg-positive child with HBV DNA four months ago at possibly for both CAR-T studies, the positive on the card', async () => {
    const bundle = hbsagPositiveChild(exampleBundle('sle-child-likely'), ANCHOR);
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
    const cards = res.json().cards as any[];
    const when = daysAgo(122, ANCHOR);
    const trace = new Map(evaluate(bundle).map((t) => [t.trialId, t]));
    for (const trial of [TRIAL.bcma, TRIAL.cd19]) {
      // $evaluate names what the exclusion holds, with value and date, for the app to say first.
      expect(trace.get(trial)!.statusReason.items).toContain(`Exclusion ${trial === TRIAL.bcma ? 7 : 8}: HBsAg positive (positive, ${when})`);
      const card = cards.find((c) => c.source.topic.code === trial);
      // The positive is a fact (issue 18 item 4): it comes first among the reasons, before the finding to check.
      expect(card.extension[EXTENSION_KEY], trial).toMatchObject({ status: 'possibly-eligible', statusReason: { code: 'prior-positive' } });
      expect(trace.get(trial)!.statusReason.codes).toContain('exclusion-finding');
      expect(card.detail).not.toContain('HBsAg positive: HBsAg positive');
      expect(card.summary).toMatch(new RegExp(`: Hepatitis B surface antigen positive ${when} in the record$`));
      expect(card.detail).toContain(`**Positive in the record:** Hepatitis B surface antigen positive ${when}`);
      expect(card.detail).toContain(`HBV DNA above the reference range`);
      expect(`${card.summary}\n${card.detail}`).not.toMatch(/meets every criterion/);
    }
  });

  it('asks a 15-year-old boy for no pregnancy test or contraception: "not female" settles the item and its exclusion twin', async () => {
    const trace = await traces(app, 'sle-teen-missing-tests');
    for (const t of trace.values()) {
      for (const c of t.criteria as any[]) {
        const open = (c.open as any[]).map((p) => `${c.id} ${p.id} ${p.label}`);
        expect(open.filter((o) => /pregnan|hcg|contracepti|childbearing/i.test(o)), `${t.trialId}`).toEqual([]);
        // A criterion decided at its root leaves nothing open below it (anti-Sm beside a met anti-dsDNA).
        if (c.outcome === 'met' || c.outcome === 'not-met') expect(c.open, `${t.trialId} ${c.id}`).toEqual([]);
      }
    }
    const cards = await hook(app, 'sle-teen-missing-tests');
    for (const c of cards) {
      expect(c.detail).not.toMatch(/pregnan|contracepti/i);
      for (const a of orders(c)[0]?.actions ?? []) expect(a.description).not.toMatch(/pregnan|hCG/i);
    }
  });

  it('ranks likely before possibly, then the trial with the fewest open items first', async () => {
    const evaluations = evaluate(exampleBundle('sle-teen-missing-tests'));
    const cards = await hook(app, 'sle-teen-missing-tests');
    const open = new Map(evaluations.map((e) => [e.trialId, openItemCount(e)]));
    const order = cards.map((c) => c.source.topic.code);
    expect(order.map((id) => open.get(id))).toEqual([...order.map((id) => open.get(id)!)].sort((a, b) => a - b));
    // The blinatumomab study waits on the most (the CBC, CD19 count, IgG on top of what the CAR-T studies need).
    expect(order.at(-1)).toBe(TRIAL.blinatumomab);
    const rank = { 'likely-eligible': 0, 'possibly-eligible': 1 } as Record<string, number>;
    const evs = evaluations.filter((e) => e.status !== 'ineligible');
    const likely = { ...evs[0]!, status: 'likely-eligible' as const };
    const rendered = renderCards(realMappings(), [...evs.slice(1), likely], [], { publicBaseUrl: 'http://localhost:3000', patientId: 'p' });
    const statuses = rendered.map((c) => (c.extension[EXTENSION_KEY] as { status: string }).status);
    expect(statuses).toEqual([...statuses].sort((a, b) => rank[a]! - rank[b]!));
    expect(statuses[0]).toBe('likely-eligible');
  });

  it('drafts each missing test once across all cards, in one suggestion that names the trials each draft settles', async () => {
    const cards = await hook(app, 'sle-teen-missing-tests');
    expect(cards.length).toBe(3);
    const carriers = cards.filter((c) => orders(c).length > 0);
    expect(carriers).toHaveLength(1);
    expect(carriers[0]).toBe(cards[0]);
    const [s] = orders(carriers[0]);
    expect(s.label).toBe('Order the missing screening tests (3 trials)');
    const codes = s.actions.map((a: any) => a.resource.code.coding[0].code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).toEqual(expect.arrayContaining(['24325-3', '40701008', '2160-0']));
    const liver = s.actions.find((a: any) => a.resource.code.coding[0].code === '24325-3');
    expect(liver.resource.reasonCode.map((r: any) => r.coding[0])).toEqual(
      expect.arrayContaining([TRIAL.blinatumomab, TRIAL.bcma, TRIAL.cd19].map((code) => expect.objectContaining({ system: TRIAL_TOPIC_SYSTEM, code }))),
    );
    expect(liver.description).toMatch(/^Draft order: hepatic function panel \(AST, ALT, bilirubin\), to settle screening for .+, .+ and .+$/);
    // The CBC only the blinatumomab study wants is drafted once too, for that study alone.
    const cbc = s.actions.filter((a: any) => a.resource.code.coding[0].code === '57021-8');
    expect(cbc).toHaveLength(1);
    expect(cbc[0].resource.reasonCode.map((r: any) => r.coding[0].code)).toEqual([TRIAL.blinatumomab]);
  });

  it('keeps feedback working: the one suggestion is accepted on its card, and a hidden trial takes its drafts away', async () => {
    const own = testApp();
    await own.ready();
    try {
      const cards = await hook(own, 'sle-teen-missing-tests');
      const carrier = cards.find((c) => orders(c).length > 0);
      const accepted = await own.inject({
        method: 'POST',
        url: `${SERVICE}/feedback`,
        payload: { feedback: [{ card: carrier.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: orders(carrier)[0].uuid }], outcomeTimestamp: '2026-11-23T10:00:00Z' }] },
      });
      expect(accepted.statusCode).toBe(200);
      expect(accepted.json()).toMatchObject({ stored: 1, rejected: [] });
      // "Already screened" on the carrier's trial: next time its card is hidden; the drafts move to the next
      // card, without the drafts only that trial wanted and without naming it.
      const hidden = carrier.source.topic.code;
      const reason = carrier.overrideReasons.find((r: any) => r.code === 'already-screened');
      const over = await own.inject({ method: 'POST', url: `${SERVICE}/feedback`, payload: { feedback: [{ card: carrier.uuid, outcome: 'overridden', overrideReason: { reason }, outcomeTimestamp: '2026-11-23T10:01:00Z' }] } });
      expect(over.statusCode).toBe(200);
      const again = await hook(own, 'sle-teen-missing-tests');
      expect(again.map((c) => c.source.topic.code)).not.toContain(hidden);
      const next = again.filter((c) => orders(c).length > 0);
      expect(next).toHaveLength(1);
      for (const a of orders(next[0])[0].actions) {
        const trials = a.resource.reasonCode.map((r: any) => r.coding[0].code);
        expect(trials).not.toContain(hidden);
        expect(trials.length).toBeGreaterThan(0);
      }
      const ok = await own.inject({
        method: 'POST',
        url: `${SERVICE}/feedback`,
        payload: { feedback: [{ card: next[0].uuid, outcome: 'accepted', acceptedSuggestions: [{ id: orders(next[0])[0].uuid }], outcomeTimestamp: '2026-11-23T10:02:00Z' }] },
      });
      expect(ok.json()).toMatchObject({ stored: 1, rejected: [] });
    } finally {
      await own.close();
    }
  });
});

describe('a positive the record holds outside a window, on the card (issue 18 item 4, rendered)', () => {
  /** The example child's evaluation with an HBsAg positive from August carried as a fact, as the engine will. */
  function withHbsagFact(): TrialEvaluation[] {
    const evaluations = evaluate(exampleBundle('sle-child-likely'));
    return evaluations.map((e) => {
      if (e.trialId !== TRIAL.cd19) return e;
      const fact = { kind: 'prior-positive' as const, text: 'HBsAg positive 2026-08-03', evidence: { reference: 'Observation/hbsag-1', display: 'Hepatitis B surface antigen', value: 'positive', date: '2026-08-03' } };
      const criteria = e.criteria.map((c) => (c.id === 'exc-8' ? { ...c, facts: [fact] } : c));
      return { ...e, criteria, ...trialStatus(criteria) };
    });
  }

  it('says the positive first, with value and date, and keeps the trial at possibly', () => {
    const cards = renderCards(realMappings(), withHbsagFact(), [], { publicBaseUrl: 'http://localhost:3000', patientId: 'sle-child-likely' });
    const card = cards.find((c) => c.source.topic.code === TRIAL.cd19)!;
    expect(card.summary).toBe('Possibly eligible: CD19 CAR-T for refractory childhood SLE: HBsAg positive 2026-08-03 in the record');
    expect(card.detail.split('\n\n')[1]).toBe('**Positive in the record:** HBsAg positive 2026-08-03 (Exclusion 8, outside its window).');
    const ext = card.extension[EXTENSION_KEY] as any;
    expect(ext.statusReason.code).toBe('prior-positive');
    expect(ext.criteria.find((c: any) => c.id === 'exc-8')).toMatchObject({ facts: ['HBsAg positive 2026-08-03'] });
    expect(ANCHOR.toISOString().slice(0, 10) > '2026-08-03').toBe(true);
  });
  // Through the hook, with the engine's facts: 'keeps an HBsAg-positive child with HBV DNA four months ago at
  // possibly for both CAR-T studies, the positive on the card' above.
});
