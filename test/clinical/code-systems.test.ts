import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/app.js';
import { LIST_SYSTEMS, canonicalSystem, isIcd10NationalEdition, isListSystem } from '../../src/terminology/code-systems.js';

/** Issue #17 item 2: a code system under another name reads as the system the lists use. */
describe('canonicalSystem', () => {
  it.each([
    ['urn:oid:2.16.840.1.113883.6.96', 'http://snomed.info/sct'],
    ['2.16.840.1.113883.6.96', 'http://snomed.info/sct'],
    ['urn:oid:2.16.840.1.113883.6.1', 'http://loinc.org'],
    ['urn:oid:2.16.840.1.113883.6.88', 'http://www.nlm.nih.gov/research/umls/rxnorm'],
    ['urn:oid:2.16.840.1.113883.6.90', 'http://hl7.org/fhir/sid/icd-10-cm'],
    ['URN:OID:2.16.840.1.113883.6.90', 'http://hl7.org/fhir/sid/icd-10-cm'],
    ['http://terminology.hl7.org/CodeSystem/icd10CM', 'http://hl7.org/fhir/sid/icd-10-cm'],
    ['urn:oid:2.16.840.1.113883.6.3', 'http://hl7.org/fhir/sid/icd-10'],
    ['http://terminology.hl7.org/CodeSystem/icd10', 'http://hl7.org/fhir/sid/icd-10'],
    ['urn:oid:2.16.840.1.113883.12.292', 'http://hl7.org/fhir/sid/cvx'],
    ['http://terminology.hl7.org/CodeSystem/CVX', 'http://hl7.org/fhir/sid/cvx'],
    ['urn:oid:2.16.840.1.113883.6.8', 'http://unitsofmeasure.org'],
    // SNOMED CT editions and versions (US, Australian, international with a version).
    ['http://snomed.info/sct/731000124108', 'http://snomed.info/sct'],
    ['http://snomed.info/sct/731000124108/version/20250301', 'http://snomed.info/sct'],
    ['http://snomed.info/sct/32506021000036107/version/20240930', 'http://snomed.info/sct'],
    ['http://snomed.info/sct/900000000000207008/version/20240101', 'http://snomed.info/sct'],
    // Trivial variants.
    ['https://loinc.org', 'http://loinc.org'],
    ['http://loinc.org/', 'http://loinc.org'],
    ['http://www.loinc.org', 'http://loinc.org'],
    ['https://snomed.info/sct/', 'http://snomed.info/sct'],
    ['https://www.nlm.nih.gov/research/umls/rxnorm/', 'http://www.nlm.nih.gov/research/umls/rxnorm'],
    ['http://nlm.nih.gov/research/umls/rxnorm', 'http://www.nlm.nih.gov/research/umls/rxnorm'],
    ['http://fhir.de/CodeSystem/dimdi/icd-10-gm', 'http://fhir.de/CodeSystem/bfarm/icd-10-gm'],
    ['2.16.156.10011.2.3.3.11', 'urn:oid:2.16.156.10011.2.3.3.11'],
  ])('%s -> %s', (system, canonical) => {
    expect(canonicalSystem(system)).toBe(canonical);
  });

  it.each([
    // A hospital's own system, an OID nobody listed, another path on a known host: left as they are.
    'urn:oid:1.2.840.114350.1.13.0.1.7.2.696871',
    '2.16.840.1.113883.6.999',
    'http://loinc.org/answers',
    'http://snomed.info/sct/abc',
    'http://hl7.org/fhir/sid/icd-10-cm-tw',
    '',
  ])('leaves %j unchanged', (system) => {
    expect(canonicalSystem(system)).toBe(system);
  });

  it('does not parse a system longer than any real one, and answers fast on hostile input', () => {
    const long = `urn:oid:${'1.'.repeat(50_000)}1`;
    const slashes = `http://loinc.org${'/'.repeat(200)}x`;
    const started = performance.now();
    expect(canonicalSystem(long)).toBe(long);
    expect(canonicalSystem(slashes)).toBe(slashes);
    expect(performance.now() - started).toBeLessThan(50);
  });
});

describe('isIcd10NationalEdition', () => {
  it.each([
    ['urn:oid:2.16.156.10011.2.3.3.11', true],
    ['http://fhir.de/CodeSystem/bfarm/icd-10-gm', true],
    ['http://fhir.de/CodeSystem/dimdi/icd-10-gm', true],
    ['http://hl7.org/fhir/sid/icd-10-ca', true],
    ['urn:oid:2.16.840.1.113883.6.94', true],
    ['http://hl7.org/fhir/sid/icd-10-nl', true],
    ['http://hl7.org/fhir/sid/icd-10', false],
    ['http://hl7.org/fhir/sid/icd-10-cm', false],
    ['urn:oid:2.16.840.1.113883.6.90', false],
    ['http://snomed.info/sct', false],
  ])('%s: %s', (system, expected) => {
    expect(isIcd10NationalEdition(system)).toBe(expected);
  });
});

describe('the systems the lists use', () => {
  it('every system in fhir-mappings/valuesets is a canonical system the service places (else its items would read as uncoded)', () => {
    const dir = resolve(ROOT, 'fhir-mappings', 'valuesets');
    const systems = new Set<string>();
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      for (const c of (JSON.parse(readFileSync(resolve(dir, f), 'utf8')) as { codes: { system: string }[] }).codes) systems.add(c.system);
    }
    for (const s of systems) {
      expect(canonicalSystem(s), s).toBe(s);
      expect(isListSystem(s), s).toBe(true);
    }
    expect([...LIST_SYSTEMS].sort()).toEqual([...systems].sort());
  });
});
