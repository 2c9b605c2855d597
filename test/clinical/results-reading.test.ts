import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { clinicalRecord as record, fireHook } from '../support/clinical.js';

/**
 * Issue #10, "Result text read backwards" and "Units", through the hook. Each record is the likely-eligible
 * girl of the examples (12, refractory SLE, full screening panel dated 7 days before ANCHOR) with one result
 * written the way real EHRs and labs write it. On e384078 the negative strings read as positive and hid the
 * trials; the coded LA answers and the ALT in IU/L were unknown ("possibly eligible").
 */

const BLINA = 'nct06789107-blinatumomab';
const BCMA = 'nct06934447-bcma-cd70-car-t';
const ZJU = 'zju-cd19-car-t-csle';
const PAEDIATRIC = [BLINA, BCMA, ZJU].sort();


interface Evidence {
  reference: string;
  display?: string;
  value?: unknown;
  unit?: string;
  note?: string;
}
interface CardCriterion {
  id: string;
  result: string;
  evidence?: Evidence[];
}
interface Card {
  source: { topic: { code: string } };
  /** The trial's trace behind the card (fireHook): the card itself carries results without evidence. */
  trace: { status: string; criteria: CardCriterion[] };
}
interface Part {
  id: string;
  outcome: string;
  evidence: Evidence[];
  parts?: Part[];
}
interface TrialTrace {
  trialId: string;
  status: string;
  criteria: (Part & { result: string })[];
}

let app: FastifyInstance;
beforeAll(async () => {
  app = testApp();
  await app.ready();
});
afterAll(() => app.close());

async function cardsFor(bundle: Bundle): Promise<Card[]> {
  return await fireHook(app, bundle);
}

function statuses(cards: Card[]): Record<string, string> {
  return Object.fromEntries(cards.map((c) => [c.source.topic.code, c.trace.status]));
}

function evidenceOn(cards: Card[], trialId: string, criterionId: string, display: string): Evidence | undefined {
  const card = cards.find((c) => c.source.topic.code === trialId);
  const criterion = card?.trace.criteria.find((c) => c.id === criterionId);
  return criterion?.evidence?.find((e) => e.display === display);
}

async function traceOf(bundle: Bundle, trialId: string): Promise<TrialTrace> {
  const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle as unknown as Record<string, unknown> });
  expect(res.statusCode).toBe(200);
  const trial = res.json<{ trials: TrialTrace[] }>().trials.find((t) => t.trialId === trialId);
  if (!trial) throw new Error(`no trace for ${trialId}`);
  return trial;
}

function findPart(parts: readonly Part[], id: string): Part | undefined {
  for (const p of parts) {
    if (p.id === id) return p;
    const inner = p.parts ? findPart(p.parts, id) : undefined;
    if (inner) return inner;
  }
  return undefined;
}

async function partOf(bundle: Bundle, trialId: string, partId: string): Promise<Part> {
  const p = findPart((await traceOf(bundle, trialId)).criteria, partId);
  if (!p) throw new Error(`no part ${partId} in ${trialId}`);
  return p;
}

// The example child's paediatric trials are possibly eligible (refractory disease waits on the study team's
// judgement, issue 18 item 5): a negative read as negative keeps them there, never ineligible.
const allLikely = Object.fromEntries(PAEDIATRIC.map((t) => [t, 'possibly-eligible']));

describe('negative results written in words are read as negative', () => {
  it('HIV "None detected" keeps all three paediatric trials (it hid them all)', async () => {
    const b = record('results-hiv-none-detected');
    const cards = await cardsFor(b);
    expect(statuses(cards)).toEqual(allLikely);
    expect(evidenceOn(cards, BLINA, 'exc-10', 'HIV 1+2 Ab+Ag')).toMatchObject({ value: 'negative', note: 'read from the result text "None detected"' });
    expect(await partOf(b, BLINA, 'exc-10.hiv')).toMatchObject({ outcome: 'not-met' });
    expect(await partOf(b, ZJU, 'exc-8.hiv')).toMatchObject({ outcome: 'not-met' });
  });

  it('HBsAg "Not reactive" keeps the blinatumomab trial', async () => {
    const b = record('results-hbsag-not-reactive');
    const cards = await cardsFor(b);
    expect(statuses(cards)).toEqual(allLikely);
    expect(evidenceOn(cards, BLINA, 'exc-10', 'HBsAg')).toMatchObject({ value: 'negative', note: 'read from the result text "Not reactive"' });
    expect(await partOf(b, BLINA, 'exc-10.hbsag')).toMatchObject({ outcome: 'not-met' });
  });

  it('HBsAg "Non reactive" keeps the blinatumomab trial', async () => {
    const b = record('results-hbsag-non-reactive');
    const cards = await cardsFor(b);
    expect(statuses(cards)).toEqual(allLikely);
    expect(await partOf(b, BLINA, 'exc-10.hbsag')).toMatchObject({ outcome: 'not-met', evidence: [{ value: 'negative' }] });
  });

  it('HCV RNA "No HCV RNA detected" keeps the blinatumomab trial', async () => {
    const b = record('results-hcv-rna-no-rna-detected');
    const cards = await cardsFor(b);
    expect(statuses(cards)).toEqual(allLikely);
    expect(await partOf(b, BLINA, 'exc-10.hcv-rna')).toMatchObject({ outcome: 'not-met', evidence: [{ value: 'negative', note: 'read from the result text "No HCV RNA detected"' }] });
  });

  it('RPR "NON REACTIVE" (as an EHR value list stores it) keeps the CAR-T trials', async () => {
    const b = record('results-syphilis-non-reactive');
    const cards = await cardsFor(b);
    expect(statuses(cards)).toEqual(allLikely);
    expect(await partOf(b, ZJU, 'exc-8.syphilis-nontreponemal')).toMatchObject({ outcome: 'not-met', evidence: [{ value: 'negative' }] });
    expect(await partOf(b, BCMA, 'exc-7.syphilis')).toMatchObject({ outcome: 'not-met' });
  });

  it('urine hCG "Negative for hCG" meets the negative-pregnancy-test inclusion and serum "No hCG detected" clears exclusion 18', async () => {
    const b = record('results-pregnancy-negative-for-hcg');
    const cards = await cardsFor(b);
    expect(statuses(cards)).toEqual(allLikely);
    expect(await partOf(b, BLINA, 'inc-8.hcg')).toMatchObject({ outcome: 'met' });
    expect(await partOf(b, BLINA, 'exc-18.hcg')).toMatchObject({ outcome: 'not-met', evidence: [{ value: 'negative', note: 'read from the result text "No hCG detected"' }] });
  });
});

describe('a viral load below the reporting limit (issue #10 item 2)', () => {
  it('HCV RNA <15 IU/mL with a reference range upper limit of 15 reads as not detected', async () => {
    const b = record('results-hcv-rna-below-limit-in-range');
    expect(statuses(await cardsFor(b))).toEqual(allLikely);
    expect(await partOf(b, BLINA, 'exc-10.hcv-rna')).toMatchObject({
      outcome: 'not-met',
      evidence: [{ value: 'negative', note: expect.stringContaining('below the reporting limit, within the reference range upper limit 15') }],
    });
  });

  it('HCV RNA "<15 IU/mL" with no reference range stays unknown and says why (detected below the quantitation limit is possible)', async () => {
    const b = record('results-hcv-rna-below-limit-no-range');
    const cards = await cardsFor(b);
    expect(statuses(cards)[BLINA]).toBe('possibly-eligible');
    const part = await partOf(b, BLINA, 'exc-10.hcv-rna');
    expect(part.outcome).toBe('unknown');
    expect(part.evidence[0]?.note).toContain('may be a quantitation limit');
  });
});

describe('coded LOINC answers are read (they were unknown)', () => {
  it('LA6577-6 Negative, LA11883-8 Not detected and LA15256-3 Nonreactive, sent as codes alone, decide the exclusions', async () => {
    const b = record('results-coded-answers-negative');
    const cards = await cardsFor(b);
    expect(statuses(cards)).toEqual(allLikely);
    expect(await partOf(b, BLINA, 'exc-10.hbsag')).toMatchObject({ outcome: 'not-met', evidence: [{ value: 'negative', note: 'read from the coded value LA6577-6' }] });
    expect(await partOf(b, BLINA, 'exc-10.hiv')).toMatchObject({ outcome: 'not-met', evidence: [{ value: 'negative', note: 'read from the coded value LA11883-8' }] });
    expect(await partOf(b, ZJU, 'exc-8.syphilis-nontreponemal')).toMatchObject({ outcome: 'not-met', evidence: [{ value: 'negative', note: 'read from the coded value LA15256-3' }] });
  });

  it('HBsAg coded LA6576-8 Positive excludes from the blinatumomab trial, on the evidence of that result', async () => {
    const b = record('results-coded-hbsag-positive');
    const cards = await cardsFor(b);
    expect(cards.map((c) => c.source.topic.code)).not.toContain(BLINA);
    const trace = await traceOf(b, BLINA);
    expect(trace.status).toBe('ineligible');
    expect(findPart(trace.criteria, 'exc-10.hbsag')).toMatchObject({ outcome: 'met', evidence: [{ display: 'HBsAg', value: 'positive', note: 'read from the coded value LA6576-8' }] });
  });
});

describe('ALT in IU/L compares with the 40 U/L default upper limit (it stayed unknown)', () => {
  it('ALT 200 IU/L with no reference range is read as above 3 x ULN, shown, and left to screening (the 30-day window is a project default)', async () => {
    const b = record('results-alt-200-iu');
    // Issue 18 item 3: the protocols give no time for the screening ALT, so a result read through the project's
    // 30-day window never hides a trial on its own; the reading itself is kept (recordOutcome) and shown.
    expect(Object.keys(statuses(await cardsFor(b))).sort()).toEqual([...PAEDIATRIC].sort());
    for (const [trial, partId] of [
      [BLINA, 'inc-7.alt'],
      [ZJU, 'inc-4.alt'],
      [BCMA, 'inc-4.alt'],
    ] as const) {
      expect(await partOf(b, trial, partId)).toMatchObject({
        outcome: 'unknown',
        recordOutcome: 'not-met',
        evidence: [{ value: 200, unit: '[IU]/L', note: expect.stringContaining('default ULN 40 U/L used; threshold <= 120') }],
      });
    }
  });

  it('ALT 80 IU/L with no reference range is within 3 x ULN: met, and the cards stay where they were', async () => {
    const b = record('results-alt-80-iu');
    expect(statuses(await cardsFor(b))).toEqual(allLikely);
    expect(await partOf(b, BLINA, 'inc-7.alt')).toMatchObject({ outcome: 'met', evidence: [{ value: 80, unit: '[IU]/L' }] });
  });
});
