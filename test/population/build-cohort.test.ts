import { resolve } from 'node:path';
import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { exportResources } from '../../scripts/build-cohort.js';
import { exportRequest } from '../../src/bulk/export-request.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT, exampleBundle } from '../support/app.js';

describe('the population cohort (scripts/build-cohort.ts)', () => {
  it('keeps the Observations an export filtered by the criteria codes (_typeFilter) keeps', () => {
    const filters = exportRequest(loadMappings({ dir: resolve(ROOT, 'fhir-mappings') })).codeFilters;
    const codes = new Set(filters.get('Observation'));
    expect(codes.size).toBeGreaterThan(0);
    const bundle = exampleBundle('sle-adult-refractory');
    const all = exportResources(bundle).filter((r): r is Observation => r.resourceType === 'Observation');
    const kept = exportResources(bundle, filters).filter((r): r is Observation => r.resourceType === 'Observation');
    // The example's labs are what the criteria read (complement, anti-dsDNA, creatinine...): an export keeps them.
    const read = all.filter((o) => (o.code?.coding ?? []).some((c) => c.code !== undefined && codes.has(c.code)));
    expect(read.length).toBeGreaterThan(0);
    expect(kept.map((o) => o.id)).toEqual(read.map((o) => o.id));
  });
});
