import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { exampleBundle, exampleIds, testApp } from '../support/app.js';
import { expectValidCard } from '../support/card-rules.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

const SERVICE = '/cds-services/trialmatch-sle';

/** The lines of one bold-headed section of a card's detail, up to the next blank line. */
function section(detail: string, heading: string): string[] {
  const lines = detail.split('\n');
  const start = lines.indexOf(`**${heading}**`);
  if (start < 0) return [];
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

describe('cards a clinician can read', () => {
  let app: FastifyInstance;
  const cardsOf = new Map<string, any[]>();

  async function cardsFor(bundle: any): Promise<any[]> {
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
    expect(res.statusCode).toBe(200);
    return res.json().cards;
  }

  beforeAll(async () => {
    app = testApp();
    await app.ready();
    for (const id of exampleIds()) cardsOf.set(id, await cardsFor(exampleBundle(id)));
  });
  afterAll(() => app.close());

  const all = (): [string, any][] => [...cardsOf].flatMap(([id, cards]) => cards.map((c) => [id, c] as [string, any]));

  it('keeps every CDS Hooks card rule and names the trial and the status in the summary', () => {
    expect(all().length).toBeGreaterThan(5);
    for (const [id, card] of all()) {
      expectValidCard(card);
      expect(card.summary, id).toMatch(/^(Likely|Possibly) eligible: /);
      expect(card.summary, id).toContain(card.source.topic.display);
      expect(card.summary.length, id).toBeLessThan(140);
    }
  });

  it('shows no internal ids, resource references, date-times or UCUM annotations in the text', () => {
    for (const [id, card] of all()) {
      for (const text of [card.summary, card.detail]) {
        expect(text, id).not.toMatch(/\b(inc|exc)-\d/);
        expect(text, id).not.toMatch(/\b(Observation|Condition|MedicationStatement|MedicationRequest|Procedure|Immunization|Patient)\/[A-Za-z0-9]/);
        expect(text, id).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:/);
        expect(text, id).not.toContain('{score}');
        expect(text, id).not.toContain(card.source.topic.code);
      }
    }
  });

  it('puts what is missing first, then what to review, then what was met', () => {
    for (const [id, card] of all()) {
      const order = ['**Missing data that would decide it**', '**For the study team to review**', '**Criteria met**'].map((h) => card.detail.indexOf(h)).filter((i) => i >= 0);
      expect(order, id).toEqual([...order].sort((a, b) => a - b));
      expect(card.detail.indexOf('**Criteria met**'), id).toBeGreaterThan(0);
    }
  });

  it('gives each criterion to review one line, and collapses the exclusions not found into one', () => {
    for (const [id, card] of all()) {
      const criteria = card.extension[EXTENSION_KEY].criteria as any[];
      const review = section(card.detail, 'For the study team to review');
      const reviewed = criteria.filter((c) => c.review).map((c) => `${c.type === 'inclusion' ? 'Inclusion' : 'Exclusion'} ${c.item}`);
      expect(review.map((l) => /^- ((Inclusion|Exclusion) \d+) — /.exec(l)?.[1]).sort(), id).toEqual([...reviewed].sort());

      const met = section(card.detail, 'Criteria met');
      const cleared = criteria.filter((c) => c.type === 'exclusion' && c.result === 'not-met' && !c.review).map((c) => c.item);
      const collapsed = met.filter((l) => l.startsWith('- Exclusion'));
      expect(collapsed, id).toHaveLength(cleared.length > 0 ? 1 : 0);
      if (cleared.length > 0) expect(collapsed[0], id).toBe(`- Exclusion${cleared.length > 1 ? 's' : ''} ${cleared.join(', ')} — none found in the record`);
    }
  });

  it('does not ask the team to review an alternative the record already makes moot', () => {
    const cards = cardsOf.get('sle-child-likely')!;
    const card = (trialId: string) => cards.find((c) => c.source.topic.code === trialId);
    // Platelets 182 x 10^9/L meet the limit: the protocol's discretion for thrombocytopenia is not needed.
    expect(card('nct06789107-blinatumomab').detail).not.toMatch(/investigator discretion/);
    // Treated and refractory by the record (pending the team's view): "intolerant" is the other route, not needed.
    const cd19 = section(card('zju-cd19-car-t-csle').detail, 'For the study team to review').join('\n');
    expect(cd19).toMatch(/Still moderately to severely active despite these treatments/);
    expect(cd19).not.toMatch(/Intolerant to standard treatments/);
  });

  it('says why a likely card is likely: everything the record can show is met, and how many items to confirm', () => {
    const cards = cardsOf.get('sle-child-likely')!;
    expect(cards).toHaveLength(3);
    for (const card of cards) {
      const reviews = (card.extension[EXTENSION_KEY].criteria as any[]).filter((c) => c.review).length;
      expect(card.summary).toMatch(new RegExp(`— all criteria the record can show are met; ${reviews} to confirm$`));
    }
  });

  it('names the first missing datum in a possibly card\'s summary', () => {
    const blina = cardsOf.get('sle-teen-missing-tests')!.find((c) => c.source.topic.code === 'nct06789107-blinatumomab');
    expect(blina.summary).toMatch(/^Possibly eligible: Blinatumomab .* — needs SLEDAI-2K total score in the last 3 months and \d+ other items$/);
  });

  it('writes values with their units and dates as dates', () => {
    const blina = cardsOf.get('sle-child-likely')!.find((c) => c.source.topic.code === 'nct06789107-blinatumomab');
    expect(blina.detail).toContain('- Inclusion 1 — Age ≥ 5 years: 12 years — born 2014-10-14');
    expect(blina.detail).toContain('SLEDAI-2K total score: 12, 2026-11-13');
    expect(blina.detail).toContain('predniSONE 5 MG Oral Tablet: current since 2026-08-25');
  });

  it('has a likely-eligible example patient for every interventional trial', async () => {
    const trials = ((await app.inject({ method: 'GET', url: '/trials' })).json().trials as any[]).filter((t) => t.studyType === 'interventional');
    expect(trials.length).toBeGreaterThan(0);
    for (const t of trials) {
      const likely = all().filter(([, c]) => c.source.topic.code === t.id && c.extension[EXTENSION_KEY].status === 'likely-eligible');
      expect(likely.length, t.id).toBeGreaterThan(0);
    }
    const belimumab = cardsOf.get('sle-adult-refractory')!.find((c) => c.source.topic.code === 'nct04893161-belimumab-response');
    expect(belimumab.summary).toMatch(/^Likely eligible: Belimumab/);
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
    const cards = await cardsFor(bundle);
    const blina = cards.find((c) => c.source.topic.code === 'nct06789107-blinatumomab');
    expect(blina.detail).toContain('\\<img src=x onerror=alert(1)\\> \\*predniSONE\\* 5 MG \\[x\\](javascript:alert(1))');
    expect(blina.detail).not.toMatch(/(^|[^\\])<img/);
  });
});
