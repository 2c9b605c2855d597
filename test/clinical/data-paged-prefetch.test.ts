/**
 * Class "Paged prefetch read as the whole record" (issue #10 item 7). CDS Hooks 2.0 §Prefetch lets a client
 * page its prefetch, and the CDS Hooks sandbox sends HAPI's 20-per-page Bundles. The case: 31
 * MedicationStatements, of which the service saw the first 20, so blinatumomab inclusion 4 (three drug
 * classes) read "not met" and the card vanished. A first page with no way to read the rest must leave every
 * criterion that reads an absence in it unknown, while what the page does hold still counts.
 *
 * The record (records/data-paged-31-medication-statements.json) is the example sle-child-likely with 25
 * over-the-counter statements (acetaminophen, loratadine; RxNorm codes as Synthea writes them) listed before
 * its six SLE drugs, so the first page of 20 holds none of the SLE drugs.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { hookTrace, tracesOfCards } from '../support/hook-trace.js';
import { testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

const SERVICE = '/cds-services/trialmatch-sle';
const BLINA = 'nct06789107-blinatumomab';
const RECORD = JSON.parse(readFileSync(resolve(import.meta.dirname, 'records', 'data-paged-31-medication-statements.json'), 'utf8')) as Bundle;
const PATIENT = patientIdOf(RECORD);
/** Where the sandbox's HAPI would point the next page; no fhirServer is given, so it cannot be read. */
const NEXT = 'https://ehr.example.org/fhir?_getpages=6c3f0e8a&_getpagesoffset=20&_count=20&_bundletype=searchset';

/** The search as the sandbox sends it: the first `size` matches, a `next` link, no total. */
function firstPage(search: Bundle, size = 20, link: string | null = NEXT): Bundle {
  const entry = (search.entry ?? []).slice(0, size);
  return { resourceType: 'Bundle', type: 'searchset', entry, ...(link ? { link: [{ relation: 'self', url: 'https://ehr.example.org/fhir/MedicationStatement?patient=x' }, { relation: 'next', url: link }] } : {}) };
}

function withStatements(statements: Bundle): Record<string, unknown> {
  return { ...prefetchFor(RECORD), medicationStatements: statements };
}

describe('a paged prefetch with no FHIR server to read the rest', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(() => app.close());

  /** The cards, each with its trial's trace from the same request (the card carries no evidence: issue #11). */
  async function cards(prefetch: Record<string, unknown>): Promise<any[]> {
    const payload = hookRequest(PATIENT, { prefetch });
    const res = await app.inject({ method: 'POST', url: SERVICE, payload });
    expect(res.statusCode, res.body).toBe(200);
    const list = res.json().cards as any[];
    const traces = tracesOfCards(list, (await hookTrace(app, payload)).evaluations);
    return list.map((c, i) => ({ ...c, trace: traces[i] }));
  }
  const criterion = (card: any, id: string) => {
    const c = card.trace.criteria.find((x: any) => x.id === id);
    return c && { ...c, missing: c.missing.length > 0 ? c.missing : undefined };
  };
  const trialsOf = (list: any[]) => list.map((c) => c.source.topic.code).sort();

  // A criterion whose automatic parts are met and only a review item is left reads result "unknown" with
  // review true on the card (src/engine/types.ts) and names no missing data; one the record cannot decide
  // names the data that would settle it in `missing`.
  const MET_BUT_REVIEW = { result: 'unknown', review: true };
  const noMissing = (c: any) => expect(c.missing, JSON.stringify(c.missing)).toBeUndefined();
  const UNDECIDED = { result: 'unknown', missing: expect.arrayContaining([expect.stringMatching(/^medications \(/)]) };

  it('the record holds 31 statements and, sent whole, gets the blinatumomab card with inclusion 4 met', async () => {
    const full = prefetchFor(RECORD).medicationStatements as Bundle;
    expect(full.entry).toHaveLength(31);
    const blina = (await cards(prefetchFor(RECORD))).find((c) => c.source.topic.code === BLINA);
    expect(criterion(blina, 'inc-4')).toMatchObject(MET_BUT_REVIEW);
    noMissing(criterion(blina, 'inc-4'));
    expect(criterion(blina, 'exc-13').result).toBe('not-met');
  });

  it('keeps every card when only the first 20 came, inclusion 4 unknown because only the first page was sent', async () => {
    const full = await cards(prefetchFor(RECORD));
    const paged = await cards(withStatements(firstPage(prefetchFor(RECORD).medicationStatements as Bundle)));
    // No card vanishes: every trial the whole record shows is still shown (and the BiTE immune-profiling
    // study, which needs blinatumomab exposure, is no longer ruled out by drugs that may be on page 2).
    expect(trialsOf(full)).toContain(BLINA);
    for (const t of trialsOf(full)) expect(trialsOf(paged)).toContain(t);
    const blina = paged.find((c) => c.source.topic.code === BLINA);
    expect(criterion(blina, 'inc-4')).toMatchObject(UNDECIDED);
    // The card says so in plain words; how (which search, which page) is in the trace the app shows.
    expect(blina.detail).toContain('Part of the record could not be read from the EHR');
    expect(criterion(blina, 'inc-4').open.map((p: any) => p.reason).join('; ')).toMatch(/MedicationStatement: the EHR sent only the first page of the search \(20 resources\), and no fhirServer was given to read the rest/);
    expect(blina.extension[EXTENSION_KEY].status).toBe('possibly-eligible');
    // A first page never adds a "not met": each criterion not met on a paged card is not met with the whole
    // record too.
    for (const card of paged) {
      const whole = full.find((c) => c.source.topic.code === card.source.topic.code);
      if (!whole) continue;
      for (const c of card.extension[EXTENSION_KEY].criteria) {
        if (c.result === 'not-met') expect(criterion(whole, c.id).result, `${card.source.topic.code} ${c.id}`).toBe('not-met');
      }
    }
  });

  it('the same page read as complete (no next link) is the defect: inclusion 4 not met and the card gone', async () => {
    // This is what the service did with the paged Bundle: it is here so the test above cannot pass vacuously.
    const asIfWhole = await cards(withStatements(firstPage(prefetchFor(RECORD).medicationStatements as Bundle, 20, null)));
    expect(trialsOf(asIfWhole)).not.toContain(BLINA);
  });

  it('reads a searchset whose total is above the matches it holds as a first page too', async () => {
    const page = firstPage(prefetchFor(RECORD).medicationStatements as Bundle, 20, null);
    page.total = 31;
    const blina = (await cards(withStatements(page))).find((c) => c.source.topic.code === BLINA);
    expect(blina).toBeDefined();
    expect(criterion(blina, 'inc-4')).toMatchObject(UNDECIDED);
    expect(criterion(blina, 'inc-4').open.map((p: any) => p.reason).join('; ')).toContain('the EHR sent only the first page of the search (20 of 31 resources)');
  });

  it('still counts what the first page holds: the SLE drugs on it meet inclusion 4', async () => {
    // The six SLE drugs first, then 14 of the over-the-counter ones: the page is real evidence of exposure.
    const all = (prefetchFor(RECORD).medicationStatements as Bundle).entry ?? [];
    const sle = all.filter((e) => !e.resource!.id!.includes('-otc-'));
    const otc = all.filter((e) => e.resource!.id!.includes('-otc-'));
    const page = firstPage({ resourceType: 'Bundle', type: 'searchset', entry: [...sle, ...otc] });
    const blina = (await cards(withStatements(page))).find((c) => c.source.topic.code === BLINA);
    expect(criterion(blina, 'inc-4')).toMatchObject(MET_BUT_REVIEW);
    noMissing(criterion(blina, 'inc-4'));
    // ... while an exclusion that needs the absence of a drug cannot be read from it: anti-CD19/CD20 therapy
    // in the last 3 months (exclusion 13) is not "none found" on a first page.
    expect(criterion(blina, 'exc-13').result).toBe('unknown');
  });
});
