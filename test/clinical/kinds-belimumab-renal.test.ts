import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BELIMUMAB_RECRUITING, testApp } from '../support/app.js';
import { fireHook } from '../support/clinical.js';

/**
 * Issue #13 item 6, through the patient-view hook: the belimumab study's renal definition of refractory
 * (NCT04893161 inclusion 3), once review only, is read from the record by a `fhirpath` part. The site's
 * local codes file supplies LOINC 2889-4 for 24-hour urine protein (the shared list is still empty).
 * Each record is the belimumab example (lupus nephritis since 2020-11-14, SLEDAI-2K 12) with 24-hour
 * urine protein results added.
 */
const BELIMUMAB = 'nct04893161-belimumab-response';
const LOCAL_CODES_FILE = resolve(import.meta.dirname, '..', 'engine', 'fixtures', 'kinds-local-codes.json');

interface CriterionView {
  id: string;
  result: string;
  review: boolean;
  evidence?: { reference: string; value?: unknown; unit?: string; date?: string }[];
}

function record(name: string): Bundle {
  return JSON.parse(readFileSync(resolve(import.meta.dirname, 'records', `${name}.json`), 'utf8')) as Bundle;
}

describe('the belimumab renal definition of refractory, read from the record (issue #13 item 6)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    // The study's document says "Not yet recruiting" (no card): read as a site whose registry record says it recruits.
    app = testApp({}, { LOCAL_CODES_FILE, ...BELIMUMAB_RECRUITING });
    await app.ready();
  });
  afterAll(async () => app.close());

  async function belimumabCard(bundle: Bundle): Promise<{ status: string; detail: string; inc3: CriterionView }> {
    // The card with its trace (fireHook): the evidence is in the trace, as the app shows it (issue #11).
    const card = (await fireHook(app, bundle)).find((c) => c.trace.trialId === BELIMUMAB);
    if (!card) throw new Error('no belimumab card');
    const ext = card.trace;
    return { status: ext.status, detail: card.detail, inc3: ext.criteria.find((c) => c.id === 'inc-3') as unknown as CriterionView };
  }

  it('asks the EHR for the 24-hour urine protein results the part reads', async () => {
    const res = await app.inject({ method: 'GET', url: '/cds-services' });
    expect(new URL(res.json().services[0].prefetch.observations, 'http://x/').searchParams.get('code')!.split(',')).toContain('2889-4');
  });

  it('meets inclusion 3 on proteinuria > 1 g/24 h more than a year after the initial therapy, citing the results', async () => {
    const { inc3, detail } = await belimumabCard(record('kinds-renal-persistent-proteinuria'));
    expect(inc3).toMatchObject({ result: 'met', review: false });
    expect(inc3.evidence).toContainEqual(expect.objectContaining({ reference: 'Observation/sle-adult-belimumab-uprot-2', value: 2.1, unit: 'g/(24.h)', date: '2026-11-10' }));
    expect(detail).not.toMatch(/Proteinuria ≥ 1 year after initial therapy/);
  });

  it('meets inclusion 3 on a doubling of 24-hour proteinuria since the therapy began', async () => {
    const { inc3 } = await belimumabCard(record('kinds-renal-doubling'));
    expect(inc3).toMatchObject({ result: 'met', review: false });
  });

  it('keeps the card and leaves inclusion 3 for review when the record does not decide it', async () => {
    const { status, inc3, detail } = await belimumabCard(record('kinds-renal-undecided'));
    expect(status).not.toBe('ineligible');
    expect(inc3).toMatchObject({ result: 'unknown', review: true });
    // The card counts it among the study team's items; the item itself is listed in the app (issue #11).
    expect(detail).toMatch(/\*\*\d+ items for the study team\*\*/);
  });
});
