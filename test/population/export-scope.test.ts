import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadServiceDefinitions } from '../../src/cds/service-definition.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { CLINICAL_TYPES } from '../../src/patient/patient-record.js';
import { EXPORT_TYPES, exportTypeFilters } from '../../src/population/export-scope.js';
import { ROOT } from '../support/app.js';

describe('what a screening export asks for', () => {
  const mappings = loadMappings({ dir: join(ROOT, 'fhir-mappings') });

  it('asks every type the record index reads, the Patient and the Medication records reference', () => {
    expect([...EXPORT_TYPES].sort()).toEqual(['Medication', 'Patient', ...CLINICAL_TYPES].sort());
  });

  it('filters each type by exactly the codes the hook asks the EHR for in its prefetch', () => {
    const [service] = loadServiceDefinitions(join(ROOT, 'cds-hooks'), mappings);
    const fromHook = new Map<string, string>();
    for (const key of service!.prefetch) {
      const param = /[?&](?:code|vaccine-code)=([^&]+)/.exec(key.template)?.[1];
      if (param) fromHook.set(key.resourceType, param);
    }
    const fromExport = new Map(exportTypeFilters(mappings).map((f) => [f.slice(0, f.indexOf('?')), decodeURIComponent(f.slice(f.indexOf('=') + 1))]));
    expect(fromExport.size).toBeGreaterThan(0);
    expect(fromExport).toEqual(fromHook);
  });
});
