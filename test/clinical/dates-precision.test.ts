import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleBundle, testApp } from '../support/app.js';
import { TRIAL, clinicalRecord as record, criterionOn, fireHook, type CardCriterion, type HookCard } from '../support/clinical.js';

/**
 * Issue #18, "Dates": a date is read with its precision, and an entry date is not an event date. Each record
 * (test/clinical/records/dates-*.json, written by scripts/build-dates-test-records.ts) is the likely-eligible
 * example child with one date written as EHRs send it, fired through the patient-view hook; the evaluation
 * time is the examples' anchor, 2026-11-23T09:00Z.
 */

let app: FastifyInstance;
beforeAll(async () => {
  app = testApp();
  await app.ready();
});
afterAll(() => app.close());

async function cardsFor(name: string): Promise<HookCard[]> {
  return fireHook(app, record(name));
}

function trialIds(cards: readonly HookCard[]): string[] {
  return cards.map((c) => c.source.topic.code);
}

/** The evidence's notes, with the resource each is about. */
function notes(c: CardCriterion): string {
  return (c.evidence ?? []).map((e) => `${e.reference}: ${e.note ?? ''}`).join(' | ');
}

interface EvaluatedPart {
  id: string;
  outcome: string;
  reason: string;
  evidence: { reference: string; value?: unknown; note?: string; date?: string }[];
  parts?: EvaluatedPart[];
}

function findPart(parts: readonly EvaluatedPart[], id: string): EvaluatedPart | undefined {
  for (const p of parts) {
    const found = p.id === id ? p : findPart(p.parts ?? [], id);
    if (found) return found;
  }
  return undefined;
}

/** One criterion or part of it ("exc-2.npsle"), as POST /trials/$evaluate gives it. */
async function evaluated(name: string, trialId: string, id: string): Promise<EvaluatedPart> {
  const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: record(name) as object });
  expect(res.statusCode).toBe(200);
  const trial = res.json<{ trials: { trialId: string; criteria: EvaluatedPart[] }[] }>().trials.find((t) => t.trialId === trialId);
  const found = findPart(trial?.criteria ?? [], id);
  if (!found) throw new Error(`no ${trialId} ${id}`);
  return found;
}

/** The neuropsychiatric-lupus-in-60-days part of each study that excludes on it. */
const NPSLE = [
  [TRIAL.cd19, 'exc-2'],
  [TRIAL.bcma, 'exc-1'],
  [TRIAL.blinatumomab, 'exc-1'],
] as const;

describe('a birth date recorded as a year or a month is every day in it', () => {
  it('born "2007": 18 or 19 on 2026-11-23, so the CD19 CAR-T age bound (5-18) is unknown with both ages shown, and the study is not hidden', async () => {
    const cards = await cardsFor('dates-born-2007');
    const age = criterionOn(cards, TRIAL.cd19, 'inc-1');
    expect(age.result).toBe('unknown');
    expect(age.evidence?.[0]).toMatchObject({ reference: 'Patient/dates-born-2007', value: '18 or 19', unit: 'years' });
    expect(age.evidence?.[0]?.note).toContain('born 2007 (year only)');
    const viaEvaluate = await evaluated('dates-born-2007', TRIAL.cd19, 'inc-1');
    expect(viaEvaluate.reason).toBe('born 2007: age 18 or 19, on either side of the age limit');
  });

  it('born "2007-11": 19 if born before 23 November, 18 after, so the age bound is unknown', async () => {
    const cards = await cardsFor('dates-born-2007-11');
    expect(criterionOn(cards, TRIAL.cd19, 'inc-1')).toMatchObject({ result: 'unknown', evidence: [{ value: '18 or 19', unit: 'years' }] });
  });

  it('born "2008-02": 18 whatever the day, so the age bound is met, with the month shown', async () => {
    const cards = await cardsFor('dates-born-2008-02');
    const age = criterionOn(cards, TRIAL.cd19, 'inc-1');
    expect(age.result).toBe('met');
    expect(age.evidence?.[0]).toMatchObject({ value: 18, unit: 'years', note: 'born 2008-02 (month only): the day is not recorded' });
    // An adult bound (18 and over) is met either way.
    expect(criterionOn(cards, TRIAL.blinatumomab, 'inc-1').result).toBe('met');
  });
});

describe('an entry date says an event happened no later than that, never when', () => {
  it('a lupus encephalitis resolved 2.6 years ago, transcribed 12 days ago, is not neuropsychiatric lupus "within 60 days": the three studies stay', async () => {
    const cards = await cardsFor('dates-encephalitis-transcribed-late');
    expect(trialIds(cards)).toEqual(expect.arrayContaining([TRIAL.cd19, TRIAL.bcma, TRIAL.blinatumomab]));
    for (const [trial, id] of NPSLE) {
      expect(criterionOn(cards, trial, id).result).not.toBe('met');
      expect((await evaluated('dates-encephalitis-transcribed-late', trial, `${id}.npsle`)).outcome).toBe('not-met');
    }
  });

  it('an active encephalitis with only a recorded date 12 days ago is unknown, with the recorded date shown: never met, never not met', async () => {
    const cards = await cardsFor('dates-encephalitis-recorded-only');
    expect(trialIds(cards)).toEqual(expect.arrayContaining([TRIAL.cd19, TRIAL.bcma, TRIAL.blinatumomab]));
    for (const [trial, id] of NPSLE) {
      const c = criterionOn(cards, trial, id);
      expect(c.result).toBe('unknown');
      expect(notes(c)).toContain('recorded 2026-11-11; when it began is not in the record');
      expect((await evaluated('dates-encephalitis-recorded-only', trial, `${id}.npsle`)).outcome).toBe('unknown');
    }
  });

  it('a reconciled prednisone statement with no start, asserted 2 days ago, does not start a course: "stable for 7 days" is unknown and the blinatumomab study stays', async () => {
    const cards = await cardsFor('dates-steroid-asserted-only');
    const inc6 = criterionOn(cards, TRIAL.blinatumomab, 'inc-6');
    expect(inc6.result).toBe('unknown');
    expect(notes(inc6)).toContain('asserted 2026-11-21; when it was started is not in the record');
    expect(notes(inc6)).not.toMatch(/started 2026-11-21, less than/);
  });

  it('an MMR vaccine known only as entered 10 days ago (Immunization.recorded) leaves "live vaccine in the last 4 weeks" unknown: the studies stay', async () => {
    const cards = await cardsFor('dates-live-vaccine-recorded-only');
    const exc9 = criterionOn(cards, TRIAL.cd19, 'exc-9');
    expect(exc9.result).toBe('unknown');
    expect(notes(exc9)).toContain('recorded 2026-11-13; when it was done is not in the record');
    expect(criterionOn(cards, TRIAL.blinatumomab, 'exc-17').result).toBe('unknown');
  });

  it('an eGFR known only by when it was issued is not "the latest result in 30 days": unknown with the issued date, not a failed inclusion', async () => {
    const cards = await cardsFor('dates-egfr-issued-only');
    const inc7 = criterionOn(cards, TRIAL.blinatumomab, 'inc-7');
    expect(inc7.result).toBe('unknown');
    expect(notes(inc7)).toContain('issued 2026-11-20; when the sample was taken is not in the record');
  });

  it('a positive serum hCG known only by its report yesterday, after a negative one taken 3 days ago, may be the latest: the pregnancy exclusion is unknown, never read from the negative alone', async () => {
    const cards = await cardsFor('dates-hcg-positive-issued-only');
    const exc10 = criterionOn(cards, TRIAL.cd19, 'exc-10');
    expect(exc10.result).toBe('unknown');
    expect(notes(exc10)).toContain('issued 2026-11-22; when the sample was taken is not in the record');
    expect((exc10.evidence ?? []).map((e) => e.reference)).toEqual(expect.arrayContaining(['Observation/dates-hcg-positive-issued-only-obs-25', 'Observation/dates-hcg-positive-issued-only-hcg']));
  });

  it('a dialysis with only meta.lastUpdated inside the window is unknown with that date shown', async () => {
    const cards = await cardsFor('dates-dialysis-last-updated-only');
    const exc3 = criterionOn(cards, TRIAL.cd19, 'exc-3');
    expect(exc3.result).toBe('unknown');
    expect(notes(exc3)).toContain('recorded 2026-11-18; when it was done is not in the record');
  });
});

describe('an event dated to the month', () => {
  it('a dialysis performed "2026-08" may be inside the 3 months from 2026-08-23 or before: unknown, not absent', async () => {
    const cards = await cardsFor('dates-dialysis-month-only');
    const exc3 = criterionOn(cards, TRIAL.cd19, 'exc-3');
    expect(exc3.result).toBe('unknown');
    expect(notes(exc3)).toContain('done 2026-08 (month only): may be before the window');
  });
});

describe('a fully dated record reads as before', () => {
  it('the example child (born 2014-10-14) is 12, with the day shown, and its trials keep their statuses', async () => {
    const cards = await fireHook(app, exampleBundle('sle-child-likely'));
    const age = criterionOn(cards, TRIAL.cd19, 'inc-1');
    expect(age).toMatchObject({ result: 'met', evidence: [{ value: 12, unit: 'years', note: 'born 2014-10-14' }] });
    expect(criterionOn(cards, TRIAL.blinatumomab, 'inc-6').result).toBe('met');
    const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: exampleBundle('sle-child-likely') as object });
    const npsle = findPart(res.json<{ trials: { trialId: string; criteria: EvaluatedPart[] }[] }>().trials.find((t) => t.trialId === TRIAL.blinatumomab)?.criteria ?? [], 'exc-1.npsle');
    expect(npsle?.outcome).toBe('not-met');
  });
});
