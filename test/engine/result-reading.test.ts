import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { numericValue, polarity } from '../../src/engine/observation-values.js';
import { UnitBudget } from '../../src/engine/units.js';
import type { Reading } from '../../src/engine/result-reading.js';
import { realMappings } from '../support/evaluate.js';

/**
 * Issue #10 item 1: a table of real result strings and codings, each with the reading a clinician would
 * give it. Every group names the public repository files, value sets or systems its rows were read in. "unknown" means the service must not read the result as either:
 * polarity() gives undefined, or a reading of 'unknown' with the reason in `how`.
 */

const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const V3 = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const UCUM = 'http://unitsofmeasure.org';

const engine = realMappings().engine;

function obs(extra: Partial<Observation>): Observation {
  return { resourceType: 'Observation', status: 'final', code: { text: 'test' }, ...extra };
}
const text = (s: string): Observation => obs({ valueString: s });
const coded = (system: string, code: string, display?: string): Observation => obs({ valueCodeableConcept: { coding: [{ system, code, ...(display ? { display } : {}) }] } });
const flagged = (code: string, system = V3): Observation => obs({ interpretation: [{ coding: [{ system, code }] }] });

function read(o: Observation): Reading {
  const p = polarity(o, new UnitBudget(), engine.resultPositive, engine.resultNegative, engine.resultIndeterminate);
  return p ? p.reading : 'unknown';
}

type Row = [label: string, observation: Observation, expected: Reading];

function table(rows: readonly Row[]): void {
  it.each(rows.map(([label, o, expected]) => ({ label, o, expected })))('$label -> $expected', ({ o, expected }) => {
    expect(read(o)).toBe(expected);
  });
}

const all: Row[] = [];
function group(name: string, rows: Row[]): void {
  all.push(...rows);
  describe(name, () => table(rows));
}

group('the strings of issue #10 (read backwards by word spotting on e384078)', [
  ['"None detected"', text('None detected'), 'negative'],
  ['"No DNA detected"', text('No DNA detected'), 'negative'],
  ['"Not reactive"', text('Not reactive'), 'negative'],
  ['"Non reactive"', text('Non reactive'), 'negative'],
  ['"Nonreactive"', text('Nonreactive'), 'negative'],
  ['"Non-reactive"', text('Non-reactive'), 'negative'],
  ['"Negative for hCG"', text('Negative for hCG'), 'negative'],
  ['"Below the limit of detection"', text('Below the limit of detection'), 'negative'],
  ['"below detection limit"', text('below detection limit'), 'negative'],
  ['"Undetectable"', text('Undetectable'), 'negative'],
  ['"Target not detected"', text('Target not detected'), 'negative'],
  ['"Detected"', text('Detected'), 'positive'],
  ['"Reactive"', text('Reactive'), 'positive'],
  ['"Positive"', text('Positive'), 'positive'],
  ['"Present"', text('Present'), 'positive'],
  ['"1:80"', text('1:80'), 'positive'],
  ['"Indeterminate"', text('Indeterminate'), 'indeterminate'],
  ['"Equivocal"', text('Equivocal'), 'indeterminate'],
  ['"Borderline"', text('Borderline'), 'indeterminate'],
  ['"Inconclusive"', text('Inconclusive'), 'indeterminate'],
  ['"Invalid"', text('Invalid'), 'unknown'],
  ['"See comment"', text('See comment'), 'unknown'],
  ['"Pending"', text('Pending'), 'unknown'],
  ['"Test not performed"', text('Test not performed'), 'unknown'],
  ['"QNS"', text('QNS'), 'unknown'],
  ['"positive control, sample negative"', text('positive control, sample negative'), 'unknown'],
  // "<20 IU/mL" is the lab's reporting limit: not detected only against a reference range or a stated LOD.
  ['"<20 IU/mL" with reference range high 20 IU/mL', obs({ valueString: '<20 IU/mL', referenceRange: [{ high: { value: 20, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' } }] }), 'negative'],
  ['"<20 IU/mL" with no reference range', text('<20 IU/mL'), 'unknown'],
  ['"<20 IU/mL" with "LOD 20 IU/mL" in the reference range text', obs({ valueString: '<20 IU/mL', referenceRange: [{ text: 'LOD 20 IU/mL' }] }), 'negative'],
  ['"< 1.3 log IU/mL" with no reference range', text('< 1.3 log IU/mL'), 'unknown'],
  ['"< 1.3 log IU/mL" with reference range high 1.3 log IU/mL', obs({ valueString: '< 1.3 log IU/mL', referenceRange: [{ high: { value: 1.3, unit: 'log IU/mL' } }] }), 'negative'],
  ['valueQuantity comparator < 15 [IU]/mL, reference range high 15', obs({ valueQuantity: { value: 15, comparator: '<', unit: 'IU/mL', system: UCUM, code: '[IU]/mL' }, referenceRange: [{ high: { value: 15, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' } }] }), 'negative'],
  ['valueQuantity comparator < 500 [IU]/mL, reference range high 15 (spans the limit)', obs({ valueQuantity: { value: 500, comparator: '<', unit: 'IU/mL', system: UCUM, code: '[IU]/mL' }, referenceRange: [{ high: { value: 15, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' } }] }), 'unknown'],
  ['valueQuantity 850 [IU]/mL, reference range high 15', obs({ valueQuantity: { value: 850, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' }, referenceRange: [{ high: { value: 15, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' } }] }), 'positive'],
  ['valueQuantity 850 [IU]/mL with no reference range', obs({ valueQuantity: { value: 850, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' } }), 'unknown'],
]);

// A Viracor HIV-1 RNA ORU (Roche COBAS AmpliPrep/TaqMan v2.0) sent through an Epic interface, public sample
// ("Not Detected: Target not detected"): OBX-5 "<20" copies/mL, OBX-7
// "Not Detected", OBX-8 "H", with the legend "Not Detected: Target not detected / <20 Copies/mL (a): Detected".
group('Viracor HIV-1 RNA HL7 v2 result and its legend', [
  ['"Not Detected: Target not detected"', text('Not Detected: Target not detected'), 'negative'],
  ['"<20 Copies/mL (a): Detected"', text('<20 Copies/mL (a): Detected'), 'positive'],
  ['"<20" copies/mL, reference range text "Not Detected", flag H', obs({ valueString: '<20', referenceRange: [{ text: 'Not Detected' }], interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0078', code: 'H' }] }] }), 'positive'],
  ['"<20" copies/mL, reference range text "Not Detected", no flag', obs({ valueString: '<20 copies/mL', referenceRange: [{ text: 'Not Detected' }] }), 'unknown'],
  ['">1.00E+07 Copies/mL (c): > upper limit of quantitation (ULQ)"', text('>1.00E+07 Copies/mL (c): > upper limit of quantitation (ULQ)'), 'unknown'],
  ['"Detects HIV-1 groups M and O" (a legend line, not a result)', text('Detects HIV-1 groups M and O'), 'unknown'],
]);

// deforay/vlsm (Viral Load Sample Management, HIV viral-load LIS used by national programmes): the result
// strings its reports count as suppressed or failed ("Target Not Detected").
group('deforay/vlsm viral-load result strings', [
  ['"Target Not Detected"', text('Target Not Detected'), 'negative'],
  ['"TND"', text('TND'), 'negative'],
  ['"tnd"', text('tnd'), 'negative'],
  ['"Below Detection Level"', text('Below Detection Level'), 'negative'],
  ['"BDL"', text('BDL'), 'negative'],
  ['"Low Detection Level" (not a statement of not detected)', text('Low Detection Level'), 'unknown'],
  ['"LDL"', text('LDL'), 'unknown'],
  ['"Failed"', text('Failed'), 'unknown'],
  ['"Fail"', text('Fail'), 'unknown'],
  ['"No Sample"', text('No Sample'), 'unknown'],
]);

// An EHR's order_result value list mapped to generic results ("Detected, not quantified"):
// the raw values as the lab system stores them.
group('EHR order_result value list (gen_ref_cd)', [
  ['"^TNP124"', text('^TNP124'), 'unknown'],
  ['"DTEL^TNP1003"', text('DTEL^TNP1003'), 'unknown'],
  ['"DETECTED"', text('DETECTED'), 'positive'],
  ['"DETECTED (A)"', text('DETECTED (A)'), 'positive'],
  ['"DETECTED (A1)"', text('DETECTED (A1)'), 'positive'],
  ['"DETECTED ABN"', text('DETECTED ABN'), 'positive'],
  ['"DETECTED, NOT QUANTIFIED"', text('DETECTED, NOT QUANTIFIED'), 'positive'],
  ['"DETECTED*"', text('DETECTED*'), 'positive'],
  ['"EQUIVOCAL"', text('EQUIVOCAL'), 'indeterminate'],
  ['"EQUIOC" (misspelt)', text('EQUIOC'), 'unknown'],
  ['"FINAL RSLT: NEGATIVE"', text('FINAL RSLT: NEGATIVE'), 'negative'],
  ['"INCONCLUSIVE"', text('INCONCLUSIVE'), 'indeterminate'],
  ['"INCONSISTENT"', text('INCONSISTENT'), 'unknown'],
  ['"INDETERMINANT"', text('INDETERMINANT'), 'indeterminate'],
  ['"INDETERMINAT"', text('INDETERMINAT'), 'indeterminate'],
  ['"NEG"', text('NEG'), 'negative'],
  ['"NEG/"', text('NEG/'), 'negative'],
  ['"NEGATI" (truncated)', text('NEGATI'), 'unknown'],
  ['"NEGATIVE CONFIRMED"', text('NEGATIVE CONFIRMED'), 'negative'],
  ['"NON-DETECTED"', text('NON-DETECTED'), 'negative'],
  ['"NON-REACTIVE"', text('NON-REACTIVE'), 'negative'],
  ['"None Detected"', text('None Detected'), 'negative'],
  ['"Not Detected"', text('Not Detected'), 'negative'],
  ['"NOT INTERPRETED~DNR"', text('NOT INTERPRETED~DNR'), 'unknown'],
  ['"POS"', text('POS'), 'positive'],
  ['"POS/"', text('POS/'), 'positive'],
  ['"REACTIVE"', text('REACTIVE'), 'positive'],
  ['"TA/DNR"', text('TA/DNR'), 'unknown'],
  ['"NON REACTIVE"', text('NON REACTIVE'), 'negative'],
  ['"NOT REPORTED"', text('NOT REPORTED'), 'unknown'],
  ['"UNDETECTED"', text('UNDETECTED'), 'negative'],
  ['"NG" (not given)', text('NG'), 'unknown'],
  ['"NT" (test not performed)', text('NT'), 'unknown'],
]);

// Indian Health Service RPMS (GPRA HIV measure, routine BGP5D8: "Repeatedly
// Reactive") and an Epic Clarity extract of HIV-1/2 Ag/Ab screen ORD_VALUE.
group('IHS RPMS and Epic Clarity HIV screen values', [
  ['"POSITIVE"', text('POSITIVE'), 'positive'],
  ['"REPEATEDLY REACTIVE"', text('REPEATEDLY REACTIVE'), 'positive'],
  ['"NEGATIVE"', text('NEGATIVE'), 'negative'],
  ['"NR"', text('NR'), 'negative'],
  ['"P" (one letter: not read)', text('P'), 'unknown'],
  ['"R" (one letter: not read)', text('R'), 'unknown'],
  ['"N" (one letter: not read)', text('N'), 'unknown'],
  ['"+" (a sign: not read)', text('+'), 'unknown'],
  ['"-" (a placeholder as often as a result: not read)', text('-'), 'unknown'],
  ['Epic "Repeatedly Reactive"', text('Repeatedly Reactive'), 'positive'],
  ['Epic "Non-Reactive"', text('Non-Reactive'), 'negative'],
]);

// YPII/YPILIS YellowstonePathology/Business/Test/SARSCoV2/SARSCoV2Result.cs: the result texts of a
// molecular pathology lab.
group('YPII/YPILIS molecular result texts', [
  ['"NOT DETECTED"', text('NOT DETECTED'), 'negative'],
  ['"Indeterminate"', text('Indeterminate'), 'indeterminate'],
  ['"Unsatisfactory"', text('Unsatisfactory'), 'unknown'],
  ['"Insufficient DNA to perform analysis"', text('Insufficient DNA to perform analysis'), 'unknown'],
  ['"Low gDNA"', text('Low gDNA'), 'unknown'],
  ['"HPV testing of unsatisfactory specimens may yield false negative results. Recommend repeat HPV testing."', text('HPV testing of unsatisfactory specimens may yield false negative results.  Recommend repeat HPV testing.'), 'unknown'],
]);

// Chinese laboratory information systems (all five trials recruit in China): LIS interface code converting
// 阳性 -> 阳性(+), 阴性 -> 阴性(-) in public LIS code, a routine-test converter with
// 弱阳性(±), an HBsAg record 阳性(+), a report-reading design listing 可疑 and 临界 as non-directional, and
// "HBsAg 阴性".
group('Chinese LIS result strings', [
  ['"阴性(-)"', text('阴性(-)'), 'negative'],
  ['"阴性"', text('阴性'), 'negative'],
  ['"阳性(+)"', text('阳性(+)'), 'positive'],
  ['"阳性"', text('阳性'), 'positive'],
  ['"弱阳性(±)" (weakly positive)', text('弱阳性(±)'), 'unknown'],
  ['"弱阳性"', text('弱阳性'), 'unknown'],
  ['"可疑" (suspicious)', text('可疑'), 'unknown'],
  ['"临界" (borderline)', text('临界'), 'indeterminate'],
  ['"HBsAg 阴性"', text('HBsAg 阴性'), 'negative'],
]);

// Confirmation and wording forms seen in lab feeds: urine/serology mapping of "presumptive positive",
// "trace" ("Repeatedly Reactive"); SNOMED 720735008 Presumptive positive; the
// v3 code WR Weakly reactive. None of these is a result a clinician would exclude a patient on.
group('results that need confirmation or say both', [
  ['"presumptive positive"', text('presumptive positive'), 'unknown'],
  ['"presumptive"', text('presumptive'), 'unknown'],
  ['"trace"', text('trace'), 'unknown'],
  ['"Weakly reactive"', text('Weakly reactive'), 'unknown'],
  ['"Low positive"', text('Low positive'), 'unknown'],
  ['"HIV-1 antibody positive, HIV-2 antibody negative"', text('HIV-1 antibody positive, HIV-2 antibody negative'), 'unknown'],
  ['"not negative" (double negative)', text('not negative'), 'unknown'],
  ['"Detected, below the limit of quantitation"', text('Detected, below the limit of quantitation'), 'positive'],
  ['"<LLOQ"', text('<LLOQ'), 'unknown'],
  ['"No HIV-1/HIV-2 antibodies detected"', text('No HIV-1/HIV-2 antibodies detected'), 'negative'],
  ['"HIV-1/2 Ag/Ab: Nonreactive"', text('HIV-1/2 Ag/Ab: Nonreactive'), 'negative'],
  ['"<1:10" (below the lowest dilution)', text('<1:10'), 'negative'],
  ['"Reactive 1:8"', text('Reactive 1:8'), 'positive'],
  ['"None" alone', text('None'), 'unknown'],
  ['"Nil" alone (also the QuantiFERON nil tube)', text('Nil'), 'unknown'],
  ['a narrative of 300 characters', text(`Negative. ${'This assay does not rule out infection. '.repeat(8)}`), 'unknown'],
]);

// SNOMED CT qualifiers: WorldHealthOrganization/ddcc input/fsh/tx-vs-lab-test-qual-result-snomed.fsh
// (snapshot of the SMART Health Cards terminology), and 52101004 / 2667000 Present / Absent.
group('SNOMED CT qualitative result codes', [
  ['10828004 Positive', coded(SNOMED, '10828004'), 'positive'],
  ['11214006 Reactive', coded(SNOMED, '11214006'), 'positive'],
  ['260373001 Detected', coded(SNOMED, '260373001'), 'positive'],
  ['52101004 Present', coded(SNOMED, '52101004'), 'positive'],
  ['260385009 Negative', coded(SNOMED, '260385009'), 'negative'],
  ['131194007 Non-reactive', coded(SNOMED, '131194007'), 'negative'],
  ['260415000 Not detected', coded(SNOMED, '260415000'), 'negative'],
  ['2667000 Absent', coded(SNOMED, '2667000'), 'negative'],
  ['82334004 Indeterminate', coded(SNOMED, '82334004'), 'indeterminate'],
  ['419984006 Inconclusive', coded(SNOMED, '419984006'), 'indeterminate'],
  ['42425007 Equivocal', coded(SNOMED, '42425007'), 'indeterminate'],
  ['455371000124106 Invalid result', coded(SNOMED, '455371000124106'), 'indeterminate'],
  ['125154007 Specimen unsatisfactory for evaluation', coded(SNOMED, '125154007'), 'indeterminate'],
  ['720735008 Presumptive positive', coded(SNOMED, '720735008'), 'indeterminate'],
  ['415684004 Suspected', coded(SNOMED, '415684004'), 'indeterminate'],
  ['an unknown SNOMED code with no display', coded(SNOMED, '999999999'), 'unknown'],
]);

// LOINC answers: HL7 SMART Health Cards vaccination IG ValueSet qualitative-lab-results-loinc (LL1055-4,
// LL2206-2); LA15255-5 / LA15256-3 from nmdp-ig/cibmtr-reporting-ig and OMOP;
// LA9633-4 / LA9634-2 (LL1971-2); LA11884-6 (TB IG value set);
// LA15841-2 Invalid (https://loinc.org/LA15841-2/).
group('LOINC answer codes (LA)', [
  ['LA6576-8 Positive', coded(LOINC, 'LA6576-8'), 'positive'],
  ['LA18996-1 Strong positive', coded(LOINC, 'LA18996-1'), 'positive'],
  ['LA11882-0 Detected', coded(LOINC, 'LA11882-0'), 'positive'],
  ['LA15255-5 Reactive', coded(LOINC, 'LA15255-5'), 'positive'],
  ['LA9633-4 Present', coded(LOINC, 'LA9633-4'), 'positive'],
  ['LA6577-6 Negative', coded(LOINC, 'LA6577-6'), 'negative'],
  ['LA11883-8 Not detected', coded(LOINC, 'LA11883-8'), 'negative'],
  ['LA15256-3 Nonreactive', coded(LOINC, 'LA15256-3'), 'negative'],
  ['LA9634-2 Absent', coded(LOINC, 'LA9634-2'), 'negative'],
  ['LA11884-6 Indeterminate', coded(LOINC, 'LA11884-6'), 'indeterminate'],
  ['LA11885-3 Equivocal', coded(LOINC, 'LA11885-3'), 'indeterminate'],
  ['LA9663-1 Inconclusive', coded(LOINC, 'LA9663-1'), 'indeterminate'],
  ['LA4259-3 Borderline', coded(LOINC, 'LA4259-3'), 'indeterminate'],
  ['LA13548-5 Specimen unsatisfactory for evaluation', coded(LOINC, 'LA13548-5'), 'indeterminate'],
  ['LA15841-2 Invalid', coded(LOINC, 'LA15841-2'), 'indeterminate'],
  ['a local code with display "Not detected"', coded('urn:oid:1.2.3.4', 'ND1', 'Not detected'), 'negative'],
]);

// HL7 v3 ObservationInterpretation (hl7.fhir.r3.core 3.0.2 list in GinoCanessa/fhir-cross-version-source;
// terminology.hl7.org). The FHIR core example "example-genetics-4" carries interpretation POS alone.
group('HL7 interpretation codes', [
  ['POS', flagged('POS'), 'positive'],
  ['DET', flagged('DET'), 'positive'],
  ['RR Reactive', flagged('RR'), 'positive'],
  ['H above the upper reference limit', flagged('H'), 'positive'],
  ['HH', flagged('HH'), 'positive'],
  ['NEG', flagged('NEG'), 'negative'],
  ['ND', flagged('ND'), 'negative'],
  ['NR Non-reactive', flagged('NR'), 'negative'],
  ['IND', flagged('IND'), 'indeterminate'],
  ['E Equivocal', flagged('E'), 'indeterminate'],
  ['WR Weakly reactive', flagged('WR'), 'unknown'],
  ['N Normal alone (expected norm: not a reading)', flagged('N'), 'unknown'],
  ['A Abnormal alone (not a reading)', flagged('A'), 'unknown'],
  ['L Low alone', flagged('L'), 'unknown'],
  ['R Resistant (susceptibility, not reactive)', flagged('R'), 'unknown'],
  ['I Intermediate (susceptibility)', flagged('I'), 'unknown'],
  ['QCF quality control failure', flagged('QCF'), 'unknown'],
  ['HL7 v2 table 0078 "POS" (STU3 system URL)', flagged('POS', 'http://hl7.org/fhir/v2/0078'), 'positive'],
  ['"NEG" in a foreign code system is not read as the HL7 code', flagged('NEG', 'urn:oid:9.9.9'), 'unknown'],
  ['interpretation text only: "Negative"', obs({ interpretation: [{ text: 'Negative' }] }), 'negative'],
]);

// Whole Observations whose parts must agree (the US lab FHIR examples code the value in SNOMED and flag it).
group('parts that agree or disagree', [
  ['coded Negative with interpretation N', obs({ valueCodeableConcept: { coding: [{ system: SNOMED, code: '260385009' }] }, interpretation: [{ coding: [{ system: V3, code: 'N' }] }] }), 'negative'],
  ['coded Positive with interpretation A', obs({ valueCodeableConcept: { coding: [{ system: SNOMED, code: '10828004' }] }, interpretation: [{ coding: [{ system: V3, code: 'A' }] }] }), 'positive'],
  ['coded Negative with interpretation POS', obs({ valueCodeableConcept: { coding: [{ system: SNOMED, code: '260385009' }] }, interpretation: [{ coding: [{ system: V3, code: 'POS' }] }] }), 'unknown'],
  ['coded Negative (SNOMED) and Positive (LOINC) in one concept', obs({ valueCodeableConcept: { coding: [{ system: SNOMED, code: '260385009' }, { system: LOINC, code: 'LA6576-8' }] } }), 'unknown'],
  ['coded Not detected with the text "Detected"', obs({ valueCodeableConcept: { coding: [{ system: SNOMED, code: '260415000' }], text: 'Detected' } }), 'unknown'],
  ['coded Non-reactive with the text "Non-reactive"', obs({ valueCodeableConcept: { coding: [{ system: SNOMED, code: '131194007', display: 'Non-reactive' }], text: 'Non-reactive' } }), 'negative'],
  ['anti-dsDNA 45 IU/mL, range high 30, flag H', obs({ valueQuantity: { value: 45, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' }, referenceRange: [{ high: { value: 30, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' } }], interpretation: [{ coding: [{ system: V3, code: 'H' }] }] }), 'positive'],
  ['anti-dsDNA 12 IU/mL, range high 30, flag H (disagree)', obs({ valueQuantity: { value: 12, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' }, referenceRange: [{ high: { value: 30, unit: 'IU/mL', system: UCUM, code: '[IU]/mL' } }], interpretation: [{ coding: [{ system: V3, code: 'H' }] }] }), 'unknown'],
  ['valueBoolean false', obs({ valueBoolean: false }), 'negative'],
  ['text "Negative" with status-less pending interpretation text "Pending"', obs({ valueString: 'Negative', interpretation: [{ text: 'Pending' }] }), 'unknown'],
  ['no value at all', obs({}), 'unknown'],
]);

describe('the table', () => {
  it('holds at least 100 real strings and codings', () => {
    expect(all.length).toBeGreaterThanOrEqual(100);
  });

  it('never reads as positive a row a clinician would not', () => {
    const positives = all.filter(([, o]) => read(o) === 'positive').map(([label]) => label);
    const expected = all.filter(([, , e]) => e === 'positive').map(([label]) => label);
    expect(positives).toEqual(expected);
  });
});

describe('how a reading is explained', () => {
  it('says which parts disagreed', () => {
    const o = obs({ valueCodeableConcept: { coding: [{ system: SNOMED, code: '260385009', display: 'Negative' }] }, interpretation: [{ coding: [{ system: V3, code: 'POS' }] }] });
    const p = polarity(o, new UnitBudget(), engine.resultPositive, engine.resultNegative, engine.resultIndeterminate);
    expect(p).toMatchObject({ polarity: 'indeterminate', reading: 'unknown' });
    expect(p?.how).toContain('coded value 260385009 (Negative) (negative)');
    expect(p?.how).toContain('interpretation POS (positive)');
    expect(p?.how).toContain('disagree');
  });

  it('says why "<20 IU/mL" with no reference range is not read as not detected', () => {
    const p = polarity(text('<20 IU/mL'), new UnitBudget(), engine.resultPositive, engine.resultNegative);
    expect(p).toMatchObject({ reading: 'unknown' });
    expect(p?.how).toContain('quantitation limit');
  });

  it('reads a coded indeterminate answer by its display when the caller passes no indeterminate list', () => {
    const o = obs({ valueCodeableConcept: { coding: [{ system: SNOMED, code: '82334004', display: 'Indeterminate (qualifier value)' }] } });
    expect(polarity(o, new UnitBudget(), engine.resultPositive, engine.resultNegative)?.polarity).toBe('indeterminate');
  });
});

describe('numericValue on long strings (issue #12)', () => {
  it('answers for 200 KiB of spaces then "x" (quadratic before: 21 s for 135 KiB)', () => {
    const o = text(`${' '.repeat(200 * 1024)}x`);
    expect(numericValue(o)).toBeUndefined();
    expect(read(o)).toBe('unknown');
  });

  it('still reads a number padded with 200 KiB of spaces', () => {
    expect(numericValue(text(`${' '.repeat(200 * 1024)}<20 IU/mL${' '.repeat(1024)}`))).toMatchObject({ value: 20, comparator: '<', unit: 'IU/mL' });
  });

  it('does not read a number out of text longer than a result', () => {
    expect(numericValue(text(`5 ${'x'.repeat(100)}`))).toBeUndefined();
  });
});

