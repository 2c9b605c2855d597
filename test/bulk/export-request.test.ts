import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportRequest, passesCodeFilter } from '../../src/bulk/export-request.js';
import { loadServiceDefinitions } from '../../src/cds/service-definition.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { CLINICAL_TYPES } from '../../src/patient/patient-record.js';
import { ROOT } from '../support/app.js';

// Issue #19 item 1: one module decides what a screening export asks (the job's kick-off and the benchmark
// cohort both read it): the types the criteria read, and `_typeFilter` only where nothing a criterion reads
// is lost, never with a site's local codes.
describe('what a screening export asks for', () => {
  const mappings = loadMappings({ dir: join(ROOT, 'fhir-mappings') });

  it('asks the Patient and the record types the criteria read, in the record builder\'s order, and not Medication (outside the patient compartment; read by reference)', () => {
    const { types } = exportRequest(mappings);
    expect(types[0]).toBe('Patient');
    expect(types.slice(1)).toEqual(CLINICAL_TYPES.filter((t) => types.includes(t)));
    expect(types).toEqual(expect.arrayContaining(['Condition', 'Observation', 'MedicationRequest']));
    expect(types).not.toContain('Medication');
  });

  it('filters each type by exactly the codes the hook asks the EHR for in its prefetch', () => {
    const [service] = loadServiceDefinitions(join(ROOT, 'cds-hooks'), mappings);
    const fromHook = new Map<string, string>();
    for (const key of service!.prefetch) {
      const param = /[?&](?:code|vaccine-code)=([^&]+)/.exec(key.template)?.[1];
      if (param) fromHook.set(key.resourceType, param);
    }
    const { typeFilters, codeFilters } = exportRequest(mappings);
    const fromExport = new Map(typeFilters.map((f) => [f.slice(0, f.indexOf('?')), f.slice(f.indexOf('=') + 1).split(',').map(decodeURIComponent).join(',')]));
    expect(fromExport.size).toBeGreaterThan(0);
    expect(fromExport).toEqual(fromHook);
    expect(new Map([...codeFilters].map(([t, codes]) => [t, codes.join(',')]))).toEqual(fromHook);
  });

  it('filters nothing when the site has local codes (a local code system or a ConceptMap placement)', () => {
    const withSource = { ...mappings, terminology: { ...mappings.terminology, localSources: new Set(['urn:site:lab|HB1']) } };
    const withPlacement = { ...mappings, terminology: { ...mappings.terminology, localPlacements: new Map([['urn:site:lab|HB1', []]]) } } as unknown as typeof mappings;
    for (const m of [withSource, withPlacement]) {
      expect(exportRequest(m).typeFilters).toEqual([]);
      expect(exportRequest(m).codeFilters.size).toBe(0);
      expect(exportRequest(m).types).toEqual(exportRequest(mappings).types);
    }
  });

  it('matches a resource as a token search does: a bare code in any system, system|code exactly, system| the whole system, escapes undone', () => {
    const loinc = { system: 'http://loinc.org', code: '718-7' };
    expect(passesCodeFilter(['718-7'], [loinc])).toBe(true);
    expect(passesCodeFilter(['718-7'], [{ system: 'urn:oid:2.16.840.1.113883.6.1', code: '718-7' }])).toBe(true);
    expect(passesCodeFilter(['http://loinc.org|718-7'], [loinc])).toBe(true);
    expect(passesCodeFilter(['urn:site|718-7'], [loinc])).toBe(false);
    expect(passesCodeFilter(['http://loinc.org|'], [loinc])).toBe(true);
    expect(passesCodeFilter(['a\\,b'], [{ system: 'urn:x', code: 'a,b' }])).toBe(true);
    expect(passesCodeFilter(['4548-4'], [loinc])).toBe(false);
    expect(passesCodeFilter(['718-7'], [])).toBe(false);
  });
});
