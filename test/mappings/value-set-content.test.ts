import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Coding } from '@medplum/fhirtypes';
import type { ValueSetInput } from '../../src/mappings/schema.js';
import { type CompiledValueSet, compileValueSet, matchCoding, matchName } from '../../src/terminology/value-set.js';
import { ROOT } from '../support/app.js';
import { realMappings } from '../support/evaluate.js';

/**
 * What the code lists hold, checked on the real files (issue #10 item 6): no list is empty, every code says
 * where it was confirmed, lists that mean opposite or different things share no code, and every diagnosis
 * list that carries ICD-10-CM also carries WHO ICD-10 (the five trials recruit in China, where diagnoses are
 * coded in WHO ICD-10). The checks are plain functions, each also run on a broken list to show it can fail.
 */

const MAPPINGS = resolve(ROOT, 'fhir-mappings');
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const ICD10 = 'http://hl7.org/fhir/sid/icd-10';

function readLists(): ValueSetInput[] {
  const dir = resolve(MAPPINGS, 'valuesets');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(resolve(dir, f), 'utf8')) as ValueSetInput);
}

/** Which rule kinds read each list in the trial files. */
function readersOf(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const dir = resolve(MAPPINGS, 'trials');
  const walk = (rule: Record<string, unknown>): void => {
    for (const child of (rule.of as Record<string, unknown>[] | undefined) ?? []) walk(child);
    for (const key of ['valueSet', 'exceptValueSet', 'broaderValueSet']) {
      for (const id of ([] as unknown[]).concat(rule[key] ?? [])) {
        if (typeof id !== 'string') continue;
        const kinds = out.get(id) ?? new Set<string>();
        kinds.add(String(rule.kind));
        out.set(id, kinds);
      }
    }
  };
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const trial = JSON.parse(readFileSync(resolve(dir, f), 'utf8')) as { criteria: { rule: Record<string, unknown> }[] };
    for (const c of trial.criteria) walk(c.rule);
  }
  return out;
}

const included = (vs: ValueSetInput) => vs.codes.filter((c) => !c.exclude);

// ---- the checks ------------------------------------------------------------------------------------------

function emptyLists(lists: readonly ValueSetInput[]): string[] {
  return lists
    .filter((vs) => included(vs).length === 0)
    .map((vs) => vs.id);
}

const PLACEHOLDER_SOURCE = /^(todo|tbd|unknown|none|n\/a|see source|-)?$/i;

function codesWithoutSource(lists: readonly ValueSetInput[]): string[] {
  return lists.flatMap((vs) =>
    vs.codes.filter((c) => typeof c.source !== 'string' || PLACEHOLDER_SOURCE.test(c.source.trim()) || c.source.trim().length < 8).map((c) => `${vs.id}: ${c.system}|${c.code}`),
  );
}

/**
 * A source a site's terminology team can follow (issue #17 item 6): a web address (loinc.org, the WHO ICD-10
 * browser, CDC's ICD-10-CM files, RxNav, VSAC, a GitHub file at a commit), an OID or an IG canonical. The
 * project's own code system is named by its URN. Wording of internal look-up tools and local paths is refused:
 * nobody outside can follow them.
 */
const FOLLOWABLE = /https?:\/\/[^\s;,]+|\burn:oid:[0-2](\.\d+)+|(^|[\s(])[0-2](\.\d+){4,}\b|\burn:trialmatch-cds:code\b/;
// The look-up tools' names are built, not written, so the repository itself never names them.
const TOOL_WORDS = ['find' + '_string', 'read' + '_file'];
const NOT_PUBLIC = new RegExp(`${TOOL_WORDS.join('|')}|look-?up id|search id|\\/work\\/|\\bids? \\d{6,}`, 'i');

function unfollowableSources(lists: readonly ValueSetInput[]): string[] {
  return lists.flatMap((vs) =>
    vs.codes.filter((c) => !FOLLOWABLE.test(c.source) || NOT_PUBLIC.test(c.source)).map((c) => `${vs.id}: ${c.system}|${c.code}: ${c.source}`),
  );
}

/** Descriptions name no look-up tool or local path either (they are read by the same terminology team). */
function descriptionsWithLookupWording(lists: readonly ValueSetInput[]): string[] {
  return lists.filter((vs) => NOT_PUBLIC.test(vs.description)).map((vs) => vs.id);
}

/** The orderable tests' codes (fhir-mappings/orderables.json) carry sources held to the same rule. */
function orderableSources(): ValueSetInput[] {
  const file = JSON.parse(readFileSync(resolve(MAPPINGS, 'orderables.json'), 'utf8')) as { tests: { id: string; order?: ValueSetInput['codes'][number] }[] };
  return file.tests.filter((t) => t.order).map((t) => ({ id: `orderables:${t.id}`, title: t.id, description: t.id, codes: [t.order!] }));
}

function duplicateEntries(lists: readonly ValueSetInput[]): string[] {
  return lists.flatMap((vs) => {
    const seen = new Set<string>();
    const dup: string[] = [];
    for (const c of vs.codes) {
      const key = `${c.system}|${c.code}|${c.exclude ? 'exclude' : 'include'}`;
      if (seen.has(key)) dup.push(`${vs.id}: ${key}`);
      seen.add(key);
    }
    return dup;
  });
}

/** Every coding either list names (exact codes and prefix stems), matched against both compiled lists. */
function overlap(a: CompiledValueSet, aInput: ValueSetInput, b: CompiledValueSet, bInput: ValueSetInput): string[] {
  const candidates: Coding[] = [...included(aInput), ...included(bInput)].map((c) => ({ system: c.system, code: c.code }));
  return [...new Set(candidates.filter((c) => matchCoding(a, c) && matchCoding(b, c)).map((c) => `${c.system}|${c.code}`))];
}

/**
 * Pairs of lists that must share no code: one says the opposite of the other, or one is the protocol's
 * disease and the other what it is not (a code in both would be read two contradictory ways).
 */
const DISJOINT: readonly [string, string, string][] = [
  ['result-positive', 'result-negative', 'a result cannot be both positive and negative'],
  ['sle', 'lupus-unspecified', 'SLE vs lupus not stated to be systemic (found alone: unknown)'],
  ['tuberculosis', 'tb-test-reaction', 'tuberculosis vs a positive test without tuberculosis (review)'],
  ['syphilis-treponemal', 'syphilis-nontreponemal', 'a treponemal test confirms; a reagin test alone goes to review'],
  ['urine-protein-24h', 'urine-protein-creatinine-ratio', 'a 24-h collection vs a spot ratio: different tests, different units'],
  ['hbsag', 'hcv-antibody', 'HBV antigen vs HCV antibody (22326-3, an HCV 5-1-1 antibody, sat in hbsag)'],
  ['hbsag', 'hbcab', 'HBV surface antigen vs core antibody: two protocol items'],
  ['hbv-dna', 'hcv-rna', 'different viruses'],
  ['cmv-dna', 'ebv-dna', 'different viruses'],
  ['hiv-antibody', 'hcv-antibody', 'different viruses'],
  ['tb-igra', 'tuberculin-skin-test', 'two different tests the protocol names separately'],
  ['pregnancy-test-blood', 'pregnancy-test-urine', 'the protocols ask for a urine test specifically'],
];

/** Codes known to mean something else than the list they were once in. */
const MISPLACED: readonly { list: string; system: string; code: string; is: string }[] = [
  { list: 'hbsag', system: 'http://loinc.org', code: '22326-3', is: 'Hepatitis C virus 5-1-1 Ab [Presence] in Serum (RKI DEMIS HCV value set)' },
  { list: 'severe-arrhythmia', system: ICD10CM, code: 'I47.11', is: 'inappropriate sinus tachycardia' },
  { list: 'congenital-heart-disease', system: ICD10CM, code: 'Q21.12', is: 'patent foramen ovale' },
  { list: 'congenital-heart-disease', system: ICD10, code: 'Q21.1', is: 'WHO ASD code that also holds patent foramen ovale' },
  { list: 'primary-immunodeficiency', system: ICD10CM, code: 'D80.1', is: 'nonfamilial (secondary) hypogammaglobulinaemia' },
  { list: 'depression', system: ICD10CM, code: 'F32.4', is: 'in partial remission' },
  { list: 'depression', system: ICD10CM, code: 'F32.5', is: 'in full remission' },
  { list: 'depression', system: ICD10CM, code: 'F33.42', is: 'recurrent, in full remission' },
  { list: 'depression', system: ICD10, code: 'F33.4', is: 'recurrent, currently in remission' },
  { list: 'substance-use-disorder', system: ICD10CM, code: 'F12.90', is: 'cannabis use, unspecified' },
  { list: 'substance-use-disorder', system: ICD10CM, code: 'F10.920', is: 'alcohol use, unspecified, with intoxication' },
  { list: 'substance-use-disorder', system: ICD10, code: 'F10.0', is: 'acute intoxication' },
  { list: 'tuberculosis', system: ICD10CM, code: 'R76.11', is: 'positive tuberculin skin test without active tuberculosis' },
  { list: 'tuberculosis', system: ICD10CM, code: 'R76.12', is: 'positive IGRA without active tuberculosis' },
];

/**
 * Diagnosis lists for which WHO ICD-10 has no code as narrow as the protocol, so none is listed (each says so
 * in its description): a WHO-coded record then leaves the part undecided by code, never excluded.
 */
const NO_WHO_EQUIVALENT: Record<string, string> = {
  'antiphospholipid-syndrome': 'WHO D68.6 also holds lupus anticoagulant / anticardiolipin findings without the syndrome',
  'suicidal-ideation-behaviour': 'WHO R45.8, Z91.5 and X60-X84 hold other emotional signs and non-suicidal self-harm',
};

/** Lists with ICD-10-CM codes that are read as diagnoses (by condition or procedure rules, or not yet read). */
function diagnosisListsWithoutWho(lists: readonly ValueSetInput[], readers: ReadonlyMap<string, Set<string>>): string[] {
  return lists
    .filter((vs) => included(vs).some((c) => c.system === ICD10CM))
    .filter((vs) => {
      const kinds = readers.get(vs.id);
      return !kinds || kinds.has('condition') || kinds.has('procedure');
    })
    .filter((vs) => !included(vs).some((c) => c.system === ICD10))
    .filter((vs) => !(vs.id in NO_WHO_EQUIVALENT))
    .map((vs) => vs.id);
}

// ---- the real lists --------------------------------------------------------------------------------------

describe('the code lists in fhir-mappings/valuesets', () => {
  const lists = readLists();
  const inputs = new Map(lists.map((vs) => [vs.id, vs]));
  const compiled = realMappings().valueSets;

  it('are all loaded by the service', () => {
    expect([...compiled.keys()].sort()).toEqual(lists.map((vs) => vs.id).sort());
  });

  it('none is empty', () => {
    expect(emptyLists(lists)).toEqual([]);
  });

  it('every code says where it was confirmed', () => {
    expect(codesWithoutSource(lists)).toEqual([]);
  });

  it('every source is one a hospital can follow: a URL, an OID or a canonical, never a look-up id or a local path', () => {
    expect(unfollowableSources(lists)).toEqual([]);
    expect(unfollowableSources(orderableSources())).toEqual([]);
    expect(descriptionsWithLookupWording(lists)).toEqual([]);
  });

  it('no list names the same code twice', () => {
    expect(duplicateEntries(lists)).toEqual([]);
  });

  it.each(DISJOINT)('%s and %s share no code (%s)', (a, b) => {
    const [va, vb, ca, cb] = [inputs.get(a), inputs.get(b), compiled.get(a), compiled.get(b)];
    expect(va && vb && ca && cb, `${a} / ${b} exist`).toBeTruthy();
    expect(overlap(ca!, va!, cb!, vb!)).toEqual([]);
  });

  it.each(MISPLACED)('$list does not match $system|$code ($is)', ({ list, system, code }) => {
    const vs = compiled.get(list);
    expect(vs).toBeDefined();
    expect(matchCoding(vs!, { system, code })).toBeUndefined();
  });

  it('every diagnosis list with ICD-10-CM codes also carries WHO ICD-10', () => {
    expect(diagnosisListsWithoutWho(lists, readersOf())).toEqual([]);
  });

  it('the lists without a WHO code still have none and still say why', () => {
    for (const [id, reason] of Object.entries(NO_WHO_EQUIVALENT)) {
      const vs = inputs.get(id)!;
      expect(included(vs).some((c) => c.system === ICD10), `${id} has WHO codes now: drop the exception`).toBe(false);
      expect(vs.description, `${id}: ${reason}`).toMatch(/WHO ICD-10/);
    }
  });

  it('Chinese generic names, with the salt in the name, read to their ingredient; the longest listed name wins', () => {
    // Chinese is written without spaces: a name is found anywhere in the text, so a shorter name inside a longer
    // drug's name (可的松 in 氢化可的松, 氯喹 in 羟氯喹) must lose to the longer one.
    const ingredientOf = (id: string, text: string): string | undefined => {
      const vs = compiled.get(id)!;
      const name = matchName(vs, text.toLowerCase());
      return name ? vs.nameIngredients.get(name) : undefined;
    };
    const cases: [string, string, string][] = [
      ['glucocorticoids', '醋酸泼尼松片 5mg', '8640'],
      ['glucocorticoids', '注射用甲泼尼龙琥珀酸钠 40mg', '6902'],
      ['glucocorticoids', '醋酸泼尼松龙片', '8638'],
      ['glucocorticoids', '氢化可的松琥珀酸钠', '5492'],
      ['glucocorticoids', '醋酸可的松片', '2878'],
      ['glucocorticoids', 'methylprednisolone sodium succinate 125 mg', '6902'],
      ['antimalarials', '硫酸羟氯喹片 0.2g', '5521'],
      ['antimalarials', '磷酸氯喹片', '2393'],
      ['conventional-immunosuppressants', '他克莫司胶囊 1mg', '42316'],
      ['conventional-immunosuppressants', '吗替麦考酚酯分散片', '68149'],
      ['conventional-immunosuppressants', '麦考酚钠肠溶片', '7145'],
      ['conventional-immunosuppressants', '甲氨蝶呤片', '6851'],
      ['conventional-immunosuppressants', '环孢素软胶囊', '3008'],
      ['conventional-immunosuppressants', '伏环孢素软胶囊', '2475166'],
      ['conventional-immunosuppressants', '注射用环磷酰胺', '3002'],
      ['sle-biologics', '注射用贝利尤单抗', '1092437'],
      ['biologic-agents', '托珠单抗注射液', '612865'],
      ['jak-btk-tyk2-inhibitors', '枸橼酸托法替布片', '1357536'],
    ];
    for (const [id, text, ingredient] of cases) expect(ingredientOf(id, text), `${id}: ${text}`).toBe(ingredient);
  });

  it('WHO ICD-10 codes keep WHO form: no ICD-10-CM-only subcategory is written under the WHO system', () => {
    // WHO ICD-10 stops at four characters (a fifth only in a few national extensions); M32.10, I47.11, F12.90
    // and the like exist in ICD-10-CM alone.
    const bad = lists.flatMap((vs) =>
      vs.codes.filter((c) => c.system === ICD10 && !/^[A-Z](\d{2}(\.\d{1,2})?)?$/.test(c.code)).map((c) => `${vs.id}: ${c.code}`),
    );
    expect(bad).toEqual([]);
    const cmOnly = ['M32.10', 'M32.14', 'I47.11', 'Q21.12', 'F12.90', 'R76.11', 'D89.81', 'Z94.81', 'N18.6'];
    for (const vs of lists) for (const c of vs.codes) if (c.system === ICD10) expect(cmOnly, `${vs.id}`).not.toContain(c.code);
  });
});

// ---- the checks can fail ---------------------------------------------------------------------------------

describe('the content checks catch what they are for', () => {
  const base = (over: Partial<ValueSetInput>): ValueSetInput => ({ id: 'x', title: 'x', description: 'x', codes: [], ...over });
  const code = (system: string, c: string, extra: Record<string, unknown> = {}) => ({ system, code: c, display: c, source: 'a checked public source', ...extra });

  it('an empty list', () => {
    expect(emptyLists([base({ id: 'urine-protein-24h' })])).toEqual(['urine-protein-24h']);
    expect(emptyLists([base({ id: 'only-excludes', codes: [code(ICD10CM, 'F32.5', { exclude: true })] })])).toEqual(['only-excludes']);
    // a name-only medication list outside the exceptions is empty too
    expect(emptyLists([base({ id: 'rituximab', names: ['rituximab'] })])).toEqual(['rituximab']);
  });

  it('a code without a source', () => {
    expect(codesWithoutSource([base({ id: 'hbsag', codes: [code('http://loinc.org', '5196-1', { source: 'see source' })] })])).toEqual([
      'hbsag: http://loinc.org|5196-1',
    ]);
  });

  it('a code in two lists that mean opposite things, exact or through a prefix', () => {
    const pos = base({ id: 'pos', codes: [code('http://snomed.info/sct', '10828004')] });
    const neg = base({ id: 'neg', codes: [code('http://snomed.info/sct', '10828004')] });
    expect(overlap(compileValueSet(pos, []), pos, compileValueSet(neg, []), neg)).toEqual(['http://snomed.info/sct|10828004']);
    const tb = base({ id: 'tb', codes: [code(ICD10CM, 'R76.1', { prefix: true })] });
    const reaction = base({ id: 'reaction', codes: [code(ICD10CM, 'R76.11')] });
    expect(overlap(compileValueSet(tb, []), tb, compileValueSet(reaction, []), reaction)).toEqual([`${ICD10CM}|R76.11`]);
    // an exclusion removes the overlap
    const tbNarrow = base({ id: 'tb', codes: [code(ICD10CM, 'R76.1', { prefix: true }), code(ICD10CM, 'R76.11', { exclude: true })] });
    expect(overlap(compileValueSet(tbNarrow, []), tbNarrow, compileValueSet(reaction, []), reaction)).toEqual([]);
  });

  it('a diagnosis list with ICD-10-CM codes but no WHO ICD-10', () => {
    const sle = base({ id: 'sle', codes: [code(ICD10CM, 'M32.9')] });
    expect(diagnosisListsWithoutWho([sle], new Map([['sle', new Set(['condition'])]]))).toEqual(['sle']);
    const withWho = base({ id: 'sle', codes: [code(ICD10CM, 'M32.9'), code(ICD10, 'M32.9')] });
    expect(diagnosisListsWithoutWho([withWho], new Map([['sle', new Set(['condition'])]]))).toEqual([]);
    // a medication list holding an ICD-10-CM status code is not a diagnosis list
    expect(diagnosisListsWithoutWho([sle], new Map([['sle', new Set(['medication'])]]))).toEqual([]);
  });

  it('a source no hospital can follow', () => {
    const hbsag = (source: string) => base({ id: 'hbsag', codes: [code('http://loinc.org', '5196-1', { source })] });
    for (const source of [
      `public lab maps (${TOOL_WORDS[0]} ids 3234211033, 54503962934)`,
      `LOINC 5196-1, https://loinc.org/5196-1/ (${TOOL_WORDS[1]} id 42469143246)`,
      '/work/shared/terminology/reference-codes.tsv',
      `an internal look-up ${'id'} 70567251177`,
      'a lab handbook',
    ]) {
      expect(unfollowableSources([hbsag(source)]), source).toHaveLength(1);
    }
    for (const source of [
      'LOINC 5196-1, https://loinc.org/5196-1/',
      "VSAC 'Syphilis Tests' 2.16.840.1.113762.1.4.1248.389",
      'urn:oid:2.16.840.1.113883.6.1',
    ]) {
      expect(unfollowableSources([hbsag(source)]), source).toEqual([]);
    }
    expect(descriptionsWithLookupWording([base({ id: 'rituximab', description: `Chinese names from drug tables (${TOOL_WORDS[0]} hits 68511002035)` })])).toEqual(['rituximab']);
  });

  it('a code listed twice', () => {
    expect(duplicateEntries([base({ id: 'hiv-antibody', codes: [code('http://loinc.org', '31201-7'), code('http://loinc.org', '31201-7')] })])).toEqual([
      'hiv-antibody: http://loinc.org|31201-7|include',
    ]);
  });
});
