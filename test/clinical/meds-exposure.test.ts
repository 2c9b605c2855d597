import type { BundleEntry, MedicationStatement } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { clinicalRecord as record, fireHook } from '../support/clinical.js';

/**
 * Issue #10, "Medication exposure" and item 11: patients recorded the way EHRs record medications (infusions
 * as MedicationAdministration, orders, cancelled orders, creams, brand names, bundled Medications, renewals,
 * no medication data at all), each fired through the patient-view hook with its record as prefetch.
 */

interface Criterion {
  id: string;
  result: 'met' | 'not-met' | 'unknown';
  review: boolean;
  evidence?: { reference: string; display: string; note?: string; value?: string | number }[];
  missing?: string[];
}
interface Card {
  summary: string;
  source: { topic: { code: string } };
  /** The trial's trace behind the card (fireHook): the card itself carries results without evidence. */
  trace: { status: string; criteria: Criterion[] };
}

const BLINATUMOMAB = 'nct06789107-blinatumomab';
const BITE = 'nct07352332-bite-immune-profiling';
const ZJU = 'zju-cd19-car-t-csle';
const BCMA = 'nct06934447-bcma-cd70-car-t';


let app: FastifyInstance;
beforeAll(async () => {
  app = testApp();
  await app.ready();
});
afterAll(() => app.close());

async function cardsFor(name: string): Promise<Card[]> {
  const cards: unknown = await fireHook(app, record(name));
  return cards as Card[];
}

function card(cards: Card[], trialId: string): Card | undefined {
  return cards.find((c) => c.source.topic.code === trialId);
}

function criterion(cards: Card[], trialId: string, id: string): Criterion {
  const c = card(cards, trialId);
  if (!c) throw new Error(`no card for ${trialId}: ${cards.map((x) => x.source.topic.code).join(', ')}`);
  const found = c.trace.criteria.find((x) => x.id === id);
  if (!found) throw new Error(`no criterion ${id}`);
  return found;
}

function references(c: Criterion): string[] {
  return (c.evidence ?? []).map((e) => e.reference);
}

describe('medications given as infusions (MedicationAdministration)', () => {
  it('sees blinatumomab recorded only as administrations: the BiTE study inclusion 4 is met from them', async () => {
    const cards = await cardsFor('meds-bite-infusion');
    const inc4 = criterion(cards, BITE, 'inc-4');
    expect(inc4.result).not.toBe('not-met');
    expect(references(inc4)).toContain('MedicationAdministration/meds-bite-infusion-blin-2');
    // Blinatumomab is itself anti-CD19: the blinatumomab study's exclusion 13 (last 3 months) is met.
    expect(card(cards, BLINATUMOMAB)).toBeUndefined();
  });

  it('sees rituximab infused 5 weeks ago: the anti-CD19/CD20 exclusion hides the blinatumomab study, and rituximab counts as an agent', async () => {
    const cards = await cardsFor('meds-rituximab-infusion');
    expect(card(cards, BLINATUMOMAB)).toBeUndefined();
    const inc2 = criterion(cards, ZJU, 'inc-2');
    expect(references(inc2)).toContain('MedicationAdministration/meds-rituximab-infusion-rtx-1');
  });
});

describe('orders are evidence of an order on authoredOn, not of exposure', () => {
  it('an active order written 8 months ago, valid until next year, leaves "a biologic in the last 4 weeks" unknown with the order shown, never met', async () => {
    const cards = await cardsFor('meds-old-order');
    const exc15 = criterion(cards, BLINATUMOMAB, 'exc-15');
    expect(exc15.result).toBe('unknown');
    const order = exc15.evidence?.find((e) => e.reference === 'MedicationRequest/meds-old-order-beli');
    expect(order?.note).toContain('ordered 2026-03-20');
    expect(order?.note).toContain('administration not recorded');
  });

  it('a cancelled order and a not-done administration are not exposure', async () => {
    const cards = await cardsFor('meds-cancelled-order');
    expect(criterion(cards, BLINATUMOMAB, 'exc-15').result).toBe('not-met');
    expect(criterion(cards, BLINATUMOMAB, 'exc-13').result).toBe('not-met');
  });
});

describe('systemic criteria count only systemic routes', () => {
  it('ruxolitinib cream is not a current JAK inhibitor, and the creams do not stand in for systemic therapy', async () => {
    const cards = await cardsFor('meds-topical');
    const exc14 = criterion(cards, BLINATUMOMAB, 'exc-14');
    expect(exc14.result).toBe('not-met');
    expect(exc14.evidence?.find((e) => e.reference === 'MedicationStatement/meds-topical-rux-cream')?.note).toContain('not systemic');
  });

  it('hydrocortisone cream and tacrolimus ointment are not a corticosteroid or an immunosuppressant class', async () => {
    const cards = await cardsFor('meds-topical-only');
    // Antimalarial and biologic only: 2 of the 4 classes, so the blinatumomab study's inclusion 4 is not met.
    expect(card(cards, BLINATUMOMAB)).toBeUndefined();
    expect(card(cards, ZJU)).toBeDefined();
  });
});

describe('one ingredient is one agent however it is recorded', () => {
  it('mycophenolate coded as an RxNorm product and named "CellCept" is one agent, not two', async () => {
    const bundle = record('meds-coded-and-named');
    const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle as unknown as Record<string, unknown> });
    expect(res.statusCode).toBe(200);
    const trials = res.json<{ trials: { trialId: string; criteria: { id: string; parts: Part[] }[] }[] }>().trials;
    const two = findPart(trials.find((t) => t.trialId === ZJU)!.criteria.find((c) => c.id === 'inc-2')!.parts, 'inc-2.two-agents');
    expect(two?.outcome).toBe('not-met');
    expect(two?.reason).toContain('1 of 2 different agents recorded (mycophenolate mofetil)');
    // The hook still shows the trial (the item is for review: intolerance), with both records as evidence.
    const cards = await cardsFor('meds-coded-and-named');
    expect(references(criterion(cards, ZJU, 'inc-2'))).toEqual(expect.arrayContaining(['MedicationStatement/meds-coded-and-named-mmf-named']));
  });
});

interface Part {
  id: string;
  outcome: string;
  reason: string;
  parts?: Part[];
}
function findPart(parts: readonly Part[], id: string): Part | undefined {
  for (const p of parts) {
    if (p.id === id) return p;
    const inner = p.parts ? findPart(p.parts, id) : undefined;
    if (inner) return inner;
  }
  return undefined;
}

describe('medicationReference to a bundled Medication', () => {
  it('reads the prednisone dose from the Medication strength: 2 x 20 mg a day at 35 kg is at least 1 mg/kg/day', async () => {
    const cards = await cardsFor('meds-bundled-medication');
    const inc2 = criterion(cards, BCMA, 'inc-2');
    const pred = inc2.evidence?.find((e) => e.reference === 'MedicationStatement/meds-bundled-medication-pred');
    expect(pred?.display).toBe('Prednisone 20 mg tablet');
    expect(pred?.note).toContain('2 x 20 mg (Medication strength 20 mg)');
    expect(pred?.note).toContain('1.14 mg/kg/day at 35 kg');
  });
});

describe('a stable dose follows renewals', () => {
  it('two consecutive mycophenolate records of the same dose are one 44-day course: "stable for 4 weeks" is met', async () => {
    const cards = await cardsFor('meds-renewals');
    const inc6 = criterion(cards, BLINATUMOMAB, 'inc-6');
    expect(inc6.result).toBe('met');
    expect(inc6.evidence?.find((e) => e.reference === 'MedicationStatement/meds-renewals-mmf-2')?.note).toContain('course started 2026-10-10');
  });
});

describe('a course start read the same whatever the record order', () => {
  it('two earlier records of one start date without a dose: the note names the same one in either order', async () => {
    // meds-renewals with its first mycophenolate record twice, neither with a dose: the course cannot be
    // confirmed stable, and which record the note names must not depend on the order the EHR sent them in.
    const base = record('meds-renewals');
    const entries = base.entry ?? [];
    const undosed = (id: string): BundleEntry => {
      const first = entries.find((e) => e.resource?.id === 'meds-renewals-mmf-1')!;
      const { dosage: _dosage, ...rest } = first.resource as MedicationStatement;
      return { ...first, resource: { ...rest, id } };
    };
    const others = entries.filter((e) => e.resource?.id !== 'meds-renewals-mmf-1');
    const notes: (string | undefined)[] = [];
    for (const pair of [
      [undosed('meds-renewals-mmf-1a'), undosed('meds-renewals-mmf-1b')],
      [undosed('meds-renewals-mmf-1b'), undosed('meds-renewals-mmf-1a')],
    ]) {
      const cards = (await fireHook(app, { ...base, entry: [...others, ...pair] })) as Card[];
      const inc6 = criterion(cards, BLINATUMOMAB, 'inc-6');
      expect(inc6.result).toBe('unknown');
      notes.push(inc6.evidence?.find((e) => e.reference === 'MedicationStatement/meds-renewals-mmf-2')?.note);
    }
    expect(notes[0]).toContain('the dose of MedicationStatement/meds-renewals-mmf-1a is not recorded');
    expect(notes[1]).toBe(notes[0]);
  });
});

describe('an absent history is not evidence (item 11)', () => {
  it('a record with no medication data leaves treatment-history inclusions unknown, "no medication history in the record"', async () => {
    const cards = await cardsFor('meds-no-history');
    const inc4 = criterion(cards, BLINATUMOMAB, 'inc-4');
    expect(inc4.result).toBe('unknown');
    expect(inc4.missing?.some((m) => m.startsWith('medication history'))).toBe(true);
    expect(criterion(cards, BITE, 'inc-4').result).toBe('unknown');
    // Exclusions on medications are not read as absent either: unknown, never met.
    expect(criterion(cards, BLINATUMOMAB, 'exc-15').result).toBe('unknown');
    expect(card(cards, ZJU)).toBeDefined();
  });
});
