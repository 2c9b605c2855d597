import { describe, expect, it } from 'vitest';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { PatientBuilder, daysAgo, yearsAgo } from '../../scripts/fhir-builders.js';
import { exampleBundle } from '../support/app.js';
import { codesRead } from '../../src/mappings/codes-read.js';
import { evaluate, part, realMappings, trial } from '../support/evaluate.js';

/**
 * Issue 18 item 4 at the edges, on the real mappings (src/engine/rules/confirmation.ts, src/engine/facts.ts).
 * The whole-patient cases are in test/clinical/results-confirmation-facts.test.ts.
 */

const BLINA = 'nct06789107-blinatumomab';
const CD19 = 'zju-cd19-car-t-csle';

function child(id = 'p'): PatientBuilder {
  return new PatientBuilder(id, { gender: 'female', birthDate: yearsAgo(12, 30) });
}

/** The likely-eligible example child (all three paediatric studies "likely") with the results `add` writes. */
function exampleChildWith(add: (b: PatientBuilder) => PatientBuilder): Bundle {
  const base = exampleBundle('sle-child-likely');
  // Built for a stand-in patient (its resource ids must not collide with the example's), then pointed at hers.
  const extra = (add(new PatientBuilder('added', {})).bundle().entry ?? [])
    .filter((e) => e.resource?.resourceType !== 'Patient')
    .map((e) => JSON.parse(JSON.stringify(e).replaceAll('Patient/added', 'Patient/sle-child-likely')) as BundleEntry);
  return { ...base, entry: [...(base.entry ?? []), ...extra] };
}

describe('which confirmatory result decides a screen', () => {
  it('one on the same day as the screen decides it', () => {
    const ev = evaluate(child().qualitative('5196-1', 'HBsAg', 'pos', daysAgo(5)).qualitative('7905-3', 'HBsAg neutralisation', 'neg', daysAgo(5)).bundle());
    expect(part(ev, BLINA, 'exc-10.hbsag').outcome).toBe('not-met');
  });

  it('one dated before the screen does not: a later reactive screen is a new finding', () => {
    const ev = evaluate(child().qualitative('7905-3', 'HBsAg neutralisation', 'neg', daysAgo(20)).qualitative('5196-1', 'HBsAg', 'pos', daysAgo(5)).bundle());
    expect(part(ev, BLINA, 'exc-10.hbsag').outcome).toBe('met');
  });

  it('one more than 30 days after the screen does not: the screen stands as read (HBsAg may have cleared)', () => {
    const ev = evaluate(child().qualitative('5196-1', 'HBsAg', 'pos', daysAgo(90)).qualitative('7905-3', 'HBsAg neutralisation', 'neg', daysAgo(10)).bundle());
    expect(part(ev, BLINA, 'exc-10.hbsag').outcome).toBe('met');
  });

  it('a positive neutralisation confirms the screen; a positive one on its own is HBsAg positive too', () => {
    const confirmed = evaluate(child().qualitative('5196-1', 'HBsAg', 'pos', daysAgo(5)).qualitative('7905-3', 'HBsAg neutralisation', 'pos', daysAgo(4)).bundle());
    expect(part(confirmed, BLINA, 'exc-10.hbsag')).toMatchObject({ outcome: 'met', reason: expect.stringContaining('confirmed: HBsAg neutralisation positive') });
    const alone = evaluate(child().qualitative('7905-3', 'HBsAg neutralisation', 'pos', daysAgo(4)).bundle());
    expect(part(alone, BLINA, 'exc-10.hbsag').outcome).toBe('met');
  });

  it('an indeterminate neutralisation leaves the screen unknown, never an exclusion', () => {
    const ev = evaluate(exampleChildWith((b) => b.qualitative('5196-1', 'HBsAg', 'pos', daysAgo(5)).qualitative('7905-3', 'HBsAg neutralisation', 'ind', daysAgo(4))));
    expect(part(ev, BLINA, 'exc-10.hbsag')).toMatchObject({ outcome: 'unknown', missing: ['a repeat HBsAg confirmatory (neutralisation) test'] });
    expect(trial(ev, BLINA).status).toBe('possibly-eligible');
  });

  it('confirmatory results that disagree leave the screen unknown', () => {
    const ev = evaluate(
      child()
        .qualitative('5196-1', 'HBsAg', 'pos', daysAgo(6))
        .qualitative('7905-3', 'HBsAg neutralisation', 'pos', daysAgo(5))
        .qualitative('65633-0', 'HBsAg confirmation', 'neg', daysAgo(4))
        .bundle(),
    );
    expect(part(ev, BLINA, 'exc-10.hbsag').outcome).toBe('unknown');
  });

  it('a reactive HIV screen with a negative immunoblot and no HIV-1 RNA is unknown for "latest" (the immunoblot came last): it needs the RNA', () => {
    const ev = evaluate(child().qualitative('56888-1', 'HIV Ag/Ab', 'pos', daysAgo(6)).qualitative('5221-7', 'HIV-1 Western blot', 'neg', daysAgo(4)).bundle());
    expect(part(ev, BLINA, 'exc-10.hiv')).toMatchObject({ outcome: 'unknown', missing: ['HIV-1 RNA'] });
  });

  it('a detected HIV-1 RNA after a reactive screen confirms it', () => {
    const ev = evaluate(child().qualitative('56888-1', 'HIV Ag/Ab', 'pos', daysAgo(6)).qualitative('25835-0', 'HIV-1 RNA', 'Detected', daysAgo(4)).bundle());
    expect(part(ev, BLINA, 'exc-10.hiv').outcome).toBe('met');
    expect(trial(ev, BLINA).status).toBe('ineligible');
  });
});

describe('what the service asks the EHR for', () => {
  it('the confirmatory tests are in the Observation codes it reads (so a prefetch carries them), though no card offers them as an order', () => {
    const codes = codesRead(realMappings(), 'Observation');
    for (const code of ['7905-3', '65633-0', '5221-7', '25835-0', '5199-5']) expect(codes, code).toContain(`http://loinc.org|${code}`);
  });
});

describe('which positives are facts', () => {
  it('a positive before the window is kept as a fact even when a later negative decides the part: HBV DNA 2,400 five months ago, not detected last month', () => {
    const ev = evaluate(
      child()
        .qualitative('5196-1', 'HBsAg', 'pos', daysAgo(150))
        .quantity('29615-2', 'HBV DNA', 2400, '[IU]/mL', daysAgo(150), { high: 20 })
        .qualitative('29610-3', 'HBV DNA', 'Not detected', daysAgo(30))
        .bundle(),
    );
    // The window decides the part (issue 18 item 4: the fact decides nothing), and the positive is still said.
    expect(part(ev, CD19, 'exc-8.hbv-dna')).toMatchObject({ outcome: 'not-met' });
    expect(part(ev, CD19, 'exc-8.hbv-dna').facts?.map((f) => f.text)).toEqual([expect.stringMatching(/2,400 \[IU\]\/mL/)]);
  });

  it('for "latest", only the latest result before the window counts: a negative hCG after an older positive leaves no fact', () => {
    const ev = evaluate(child().qualitative('2118-8', 'Serum hCG', 'pos', daysAgo(60)).qualitative('2118-8', 'Serum hCG', 'neg', daysAgo(30)).bundle());
    expect(part(ev, CD19, 'exc-10.hcg')).toMatchObject({ outcome: 'review' });
    expect(trial(ev, CD19).criteria.find((c) => c.id === 'exc-10')?.facts).toBeUndefined();
  });

  it('a reactive RPR without a treponemal test is shown for review and is a fact: the trial is "possibly", not "likely"', () => {
    const ev = evaluate(exampleChildWith((b) => b.qualitative('20507-0', 'RPR', 'Reactive', daysAgo(5))));
    const exc8 = trial(ev, CD19).criteria.find((c) => c.id === 'exc-8');
    expect(exc8?.outcome).toBe('review');
    expect(exc8?.facts?.map((f) => f.text)).toEqual([`RPR positive ${daysAgo(5)}`]);
    expect(trial(ev, CD19).status).toBe('possibly-eligible');
  });
});
