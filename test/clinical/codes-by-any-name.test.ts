import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp } from '../support/app.js';
import { TRIAL, clinicalRecord as record, criterionOn as criterion, eligibilities, fireHook, type CardCriterion, evaluateOverHttp } from '../support/clinical.js';

/**
 * Issue #17 items 2 and 4, issue #18 item 2: codes and medications as Epic-style and Cerner-style exports send
 * them (test/clinical/records/codes-*.json and meds-reference-*.json, written by
 * scripts/build-code-reading-records.ts from the likely-eligible example child, whose record gives three cards:
 * blinatumomab, BCMA/CD70 CAR-T, CD19 CAR-T). Each is fired at the real hook and, where a trial is rightly
 * hidden, at POST /trials/$evaluate.
 */

const PAEDIATRIC = [TRIAL.blinatumomab, TRIAL.bcma, TRIAL.cd19];

interface EvaluatedPart {
  id: string;
  outcome: string;
  reason: string;
  evidence: { reference: string; display?: string; note?: string }[];
  parts?: EvaluatedPart[];
}
interface EvaluatedTrial {
  trialId: string;
  status: string;
  criteria: (EvaluatedPart & { type: string })[];
}

let app: FastifyInstance;
beforeAll(async () => {
  app = testApp();
  await app.ready();
});
afterAll(() => app.close());

async function evaluateRecord(bundle: Bundle): Promise<EvaluatedTrial[]> {
  return evaluateOverHttp<EvaluatedTrial>(app, bundle);
}

function trialsShown(cards: Awaited<ReturnType<typeof fireHook>>): string[] {
  return eligibilities(cards)
    .map((e) => e.trialId)
    .sort();
}

function references(c: CardCriterion): string[] {
  return (c.evidence ?? []).map((e) => e.reference);
}

/**
 * The record with every OID written back as the URI the lists use, what the OID record must read the same as.
 * The pairs are the terminology.hl7.org NamingSystems' own (v3-snomed-CT, v3-loinc, v3-rxNorm, icd10CM).
 */
const URI_OF_OID = { '2.16.840.1.113883.6.96': 'http://snomed.info/sct', '2.16.840.1.113883.6.1': 'http://loinc.org', '2.16.840.1.113883.6.88': 'http://www.nlm.nih.gov/research/umls/rxnorm', '2.16.840.1.113883.6.90': 'http://hl7.org/fhir/sid/icd-10-cm' };
function withUris(bundle: Bundle): Bundle {
  let text = JSON.stringify(bundle);
  for (const [oid, uri] of Object.entries(URI_OF_OID)) text = text.replaceAll(`"urn:oid:${oid}"`, `"${uri}"`);
  return JSON.parse(text) as Bundle;
}

describe('code systems by any name (issue #17 item 2)', () => {
  it('reads an Epic-style record whose every code is under its HL7 OID (SLE as ICD-10-CM M32.14) exactly as the same record under the URIs', async () => {
    const oids = record('codes-epic-oids');
    expect(JSON.stringify(oids)).toContain('urn:oid:2.16.840.1.113883.6.90');
    const cards = await fireHook(app, oids);
    expect(trialsShown(cards)).toEqual([...PAEDIATRIC].sort());
    for (const trialId of PAEDIATRIC) expect(references(criterion(cards, trialId, 'inc-2')), trialId).toContain('Condition/codes-epic-oids-cond-1');
    // Every criterion of every trial, labs (LOINC) and drugs (RxNorm) included, reads as under the URIs.
    const outcomes = (trials: EvaluatedTrial[]): string[] => trials.flatMap((t) => [`${t.trialId} ${t.status}`, ...t.criteria.map((c) => `${t.trialId} ${c.id} ${c.outcome}`)]);
    expect(outcomes(await evaluateRecord(oids))).toEqual(outcomes(await evaluateRecord(withUris(oids))));
  });

  it.each([
    ['codes-sle-snomed-edition-uri', 'SNOMED CT by its US edition version URI'],
    ['codes-sle-snomed-bare-oid', 'SNOMED CT by its bare OID'],
  ])('%s (%s): SLE reads as SLE, the three paediatric trials come back', async (name) => {
    const cards = await fireHook(app, record(name));
    expect(trialsShown(cards)).toEqual([...PAEDIATRIC].sort());
    for (const trialId of PAEDIATRIC) {
      const inc2 = criterion(cards, trialId, 'inc-2');
      expect(inc2.result, trialId).not.toBe('not-met');
      expect(references(inc2), trialId).toContain(`Condition/${name}-cond-1`);
    }
  });

  it('finds a live vaccine given 14 days ago under the CVX OID: the three trials that exclude it are hidden on that evidence', async () => {
    const bundle = record('codes-live-vaccine-cvx-oid');
    const cards = await fireHook(app, bundle);
    for (const trialId of PAEDIATRIC) expect(trialsShown(cards), trialId).not.toContain(trialId);
    const trials = await evaluateRecord(bundle);
    // Blinatumomab exc-17, BCMA/CD70 exc-8, CD19 CAR-T exc-9: "live vaccine within 4 weeks".
    for (const [trialId, id] of [[TRIAL.blinatumomab, 'exc-17'], [TRIAL.bcma, 'exc-8'], [TRIAL.cd19, 'exc-9']] as const) {
      const exc = trials.find((t) => t.trialId === trialId)!.criteria.find((c) => c.id === id)!;
      expect(exc.outcome, trialId).toBe('met');
      expect(exc.evidence.map((e) => e.reference), trialId).toContain('Immunization/codes-live-vaccine-cvx-oid-mmr');
    }
  });
});

describe('codes the service cannot place never exclude (issue #17 item 4)', () => {
  it.each([
    ['codes-sle-text-only', 'Cerner-style: "Systemic lupus erythematosus (SLE)" in code.text only'],
    ['codes-sle-chinese-text', 'in Chinese words only: 系统性红斑狼疮'],
    ['codes-sle-local-code', "under a hospital's own code system, its display naming SLE"],
  ])('%s (%s): the SLE inclusion goes to review with the entry shown, and the three trials come back', async (name) => {
    const cards = await fireHook(app, record(name));
    expect(trialsShown(cards)).toEqual([...PAEDIATRIC].sort());
    for (const trialId of PAEDIATRIC) {
      const inc2 = criterion(cards, trialId, 'inc-2');
      expect(inc2.result, trialId).toBe('unknown');
      expect(inc2.review, trialId).toBe(true);
      const entry = inc2.evidence?.find((e) => e.reference === `Condition/${name}-cond-1`);
      expect(entry?.note, trialId).toContain('a problem-list entry the service could not code');
    }
  });

  it('a national ICD-10 edition code (China, M32.900 by its OID) is never read as "no SLE": its Chinese title names SLE, the three trials come back', async () => {
    const name = 'codes-sle-china-clinical-edition';
    const cards = await fireHook(app, record(name));
    expect(trialsShown(cards)).toEqual([...PAEDIATRIC].sort());
    for (const trialId of PAEDIATRIC) {
      const inc2 = criterion(cards, trialId, 'inc-2');
      expect(inc2.result, trialId).not.toBe('not-met');
      expect(references(inc2), trialId).toContain(`Condition/${name}-cond-1`);
    }
  });

  it('an uncoded entry that does not name SLE leaves the SLE inclusion unknown, shown, not "not met"', async () => {
    const name = 'codes-uncoded-problem-only';
    const cards = await fireHook(app, record(name));
    expect(trialsShown(cards)).toEqual([...PAEDIATRIC].sort());
    for (const trialId of PAEDIATRIC) {
      const inc2 = criterion(cards, trialId, 'inc-2');
      expect(inc2.result, trialId).toBe('unknown');
      const entry = inc2.evidence?.find((e) => e.reference === `Condition/${name}-cond-1`);
      expect(entry, trialId).toMatchObject({ display: 'Chronic illness, see notes' });
      expect(entry?.note, trialId).toContain('text only, no code');
      expect(inc2.missing, trialId).toContain('codes for the uncoded diagnoses in the record');
      // Not "likely": the diagnosis itself is open until the entry is coded or the diagnosis confirmed.
      expect(eligibilities(cards).find((e) => e.trialId === trialId)?.status, trialId).toBe('possibly-eligible');
    }
  });

  it('an uncoded entry whose words name an excluding condition is shown and keeps the trial "possibly", never hidden on it', async () => {
    const name = 'codes-leukaemia-text-only';
    const cards = await fireHook(app, record(name));
    expect(trialsShown(cards)).toEqual([...PAEDIATRIC].sort());
    // "Malignancy": blinatumomab exc-19, BCMA/CD70 exc-10, CD19 CAR-T exc-11.
    for (const [trialId, id] of [[TRIAL.blinatumomab, 'exc-19'], [TRIAL.bcma, 'exc-10'], [TRIAL.cd19, 'exc-11']] as const) {
      const exc = criterion(cards, trialId, id);
      expect(exc.result, trialId).toBe('unknown');
      expect(exc.evidence?.find((e) => e.reference === `Condition/${name}-all`)).toMatchObject({ display: 'Acute lymphoblastic leukaemia' });
      expect(eligibilities(cards).find((e) => e.trialId === trialId)?.status, trialId).toBe('possibly-eligible');
    }
  });

  it('a coded entry that is not SLE still rules SLE out: placed codes are read as before, and the trials stay hidden', async () => {
    const cards = await fireHook(app, record('codes-coded-asthma-only'));
    for (const trialId of PAEDIATRIC) expect(trialsShown(cards), trialId).not.toContain(trialId);
    const trials = await evaluateRecord(record('codes-coded-asthma-only'));
    expect(trials.find((t) => t.trialId === TRIAL.blinatumomab)!.criteria.find((c) => c.id === 'inc-2')!.outcome).toBe('not-met');
  });

  it('an uncoded entry never makes an exclusion met: the same record keeps every exclusion not met', async () => {
    const trials = await evaluateRecord(record('codes-uncoded-problem-only'));
    for (const t of trials) for (const c of t.criteria.filter((x) => x.type === 'exclusion')) expect(c.outcome, `${t.trialId} ${c.id}`).not.toBe('met');
  });
});

describe('medication references (issue #18 item 2)', () => {
  it('reads blinatumomab from the display of a medicationReference the EHR sent without the Medication', async () => {
    const name = 'meds-reference-display-blinatumomab';
    const cards = await fireHook(app, record(name));
    // The BiTE profiling study wants exposure to a CD3xCD19 BiTE: it comes back, met from the administrations.
    const inc4 = criterion(cards, TRIAL.bite, 'inc-4');
    expect(inc4.result).not.toBe('not-met');
    expect(references(inc4)).toContain(`MedicationAdministration/${name}-blin-1`);
    expect(inc4.evidence?.find((e) => e.reference === `MedicationAdministration/${name}-blin-1`)?.display).toBe('blinatumomab 35 mcg injection');
    // The blinatumomab study excludes anti-CD19 therapy in the last 3 months (exc-13): no "Likely" card.
    const blina = eligibilities(cards).find((e) => e.trialId === TRIAL.blinatumomab);
    expect(blina?.status).not.toBe('likely-eligible');
    const exc13 = (await evaluateRecord(record(name))).find((t) => t.trialId === TRIAL.blinatumomab)!.criteria.find((c) => c.id === 'exc-13')!;
    expect(exc13.outcome).toBe('met');
  });

  it('a medication nothing names is an unknown agent: "at least 2 agents" becomes unknown, never "not given"', async () => {
    const name = 'meds-reference-unnamed';
    const trials = await evaluateRecord(record(name));
    const inc2 = trials.find((t) => t.trialId === TRIAL.cd19)!.criteria.find((c) => c.id === 'inc-2')!;
    const find = (parts: readonly EvaluatedPart[], id: string): EvaluatedPart | undefined => {
      for (const p of parts) {
        if (p.id === id) return p;
        const inner = find(p.parts ?? [], id);
        if (inner) return inner;
      }
      return undefined;
    };
    const two = find(inc2.parts ?? [], 'inc-2.two-agents');
    expect(two?.outcome).toBe('unknown');
    expect(two?.reason).toContain('2 medications the EHR did not name');
    const unnamed = two?.evidence.find((e) => e.reference === `MedicationStatement/${name}-med-29`);
    expect(unnamed).toMatchObject({ display: 'a medication the EHR did not name' });
    expect(unnamed?.note).toContain('Medication/e29');
  });
});
