/**
 * "Searches that outgrow the page limit" (issue #10 item 9): every search template asks for _count=200 and
 * filters by code only where a token search finds everything the criteria can match. Exact codes go bare (any
 * system: an OID or edition URI is found too); a list with a prefix (ICD-10-CM "T86.1 and below") or WHO codes
 * needs `[system]|` tokens, which only the service's own search carries, with its proof (issue #21 item 4,
 * test/http/fhir-search-filters.test.ts); Conditions (names) and medications (matched by name) are never filtered.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PREFETCH_TEMPLATE_BYTES, loadServiceDefinitions } from '../../src/cds/service-definition.js';
import { codesRead, searchFilter } from '../../src/mappings/codes-read.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT, testApp } from '../support/app.js';
import { realMappings } from '../support/evaluate.js';

/** The value sets the trials' procedure criteria name (walked from the trial files, not listed by hand). */
function procedureValueSets(): Set<string> {
  const out = new Set<string>();
  const walk = (r: any): void => {
    if (Array.isArray(r.of)) r.of.forEach(walk);
    else if (r.kind === 'procedure') for (const v of [r.valueSet].flat()) out.add(v);
  };
  const dir = resolve(ROOT, 'fhir-mappings', 'trials');
  for (const f of readdirSync(dir)) for (const c of JSON.parse(readFileSync(resolve(dir, f), 'utf8')).criteria) walk(c.rule);
  return out;
}

describe('the search templates in discovery', () => {
  let app: FastifyInstance;
  let prefetch: Record<string, string>;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
    prefetch = (await app.inject({ method: 'GET', url: '/cds-services' })).json().services[0].prefetch;
  });
  afterAll(() => app.close());

  it('asks for 200 a page in every search (HAPI serves 20 unless told, at most 200)', () => {
    for (const [key, template] of Object.entries(prefetch)) {
      if (!template.includes('?')) continue;
      expect(template, key).toMatch(/[?&]_count=200(&|$)/);
    }
    expect(Object.values(prefetch).filter((t) => t.includes('?')).length).toBeGreaterThanOrEqual(6);
  });

  it('keeps every template under 4 KB, the request line many proxies and servers allow (issue #21 item 4)', () => {
    for (const [key, template] of Object.entries(prefetch)) expect(Buffer.byteLength(template), key).toBeLessThanOrEqual(MAX_PREFETCH_TEMPLATE_BYTES);
  });

  it('filters Observations by every code a criterion reads, in any system (a bare token), so nothing is lost', () => {
    const codes = new URL(prefetch.observations!, 'http://x/').searchParams.get('code')!.split(',');
    for (const key of codesRead(realMappings(), 'Observation')) expect(codes).toContain(key.slice(key.indexOf('|') + 1));
    expect(codes.every((c) => !c.includes('|'))).toBe(true);
  });

  it('filters Immunizations by exactly the vaccine codes the criteria read', () => {
    const codes = new URL(prefetch.immunizations!, 'http://x/').searchParams.get('vaccine-code')!.split(',');
    expect(codes).toEqual(searchFilter(realMappings(), 'Immunization')!.tokens);
    const live = JSON.parse(readFileSync(resolve(ROOT, 'fhir-mappings', 'valuesets', 'live-vaccines.json'), 'utf8')) as { codes: { system: string; code: string }[] };
    for (const c of live.codes) expect(codes).toContain(c.code);
  });

  it('does not filter Procedures in prefetch while a procedure list has a prefix, nor Conditions or medications', () => {
    expect(searchFilter(realMappings(), 'Procedure')?.systemWide).toBe(true);
    expect(prefetch.procedures).toBe('Procedure?patient={{context.patientId}}&_count=200');
    expect(prefetch.conditions).toBe('Condition?patient={{context.patientId}}&_count=200');
    expect(prefetch.medicationStatements).toBe('MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication&_count=200');
    expect(prefetch.medicationRequests).toBe('MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication&_count=200');
  });
});

describe('filling the code placeholders from the mappings', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-templates-'));
    cpSync(resolve(ROOT, 'fhir-mappings'), resolve(dir, 'fhir-mappings'), { recursive: true });
    // The same trials with every prefix taken out of the procedure lists, and their WHO ICD-10 codes (a
    // national edition's extension codes match them, which no WHO token finds): then exact tokens express them.
    for (const id of procedureValueSets()) {
      const file = resolve(dir, 'fhir-mappings', 'valuesets', `${id}.json`);
      const vs = JSON.parse(readFileSync(file, 'utf8')) as { codes: { prefix?: boolean; system: string }[] };
      vs.codes = vs.codes.filter((c) => !c.prefix && c.system !== 'http://hl7.org/fhir/sid/icd-10');
      writeFileSync(file, JSON.stringify(vs));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fills {{trialmatch.procedureCodes}} once no procedure list has a prefix, with every code of those lists', () => {
    expect(procedureValueSets().size).toBeGreaterThan(0);
    const mappings = loadMappings({ dir: resolve(dir, 'fhir-mappings') });
    const filter = searchFilter(mappings, 'Procedure');
    expect(filter).toMatchObject({ systemWide: false });
    const key = loadServiceDefinitions(resolve(ROOT, 'cds-hooks'), mappings)[0]!.prefetch.find((p) => p.key === 'procedures')!;
    expect(key.template).toBe(`Procedure?patient={{context.patientId}}&code=${filter!.tokens.join(',')}&_count=200`);
    expect(key.ownSearch).toBeUndefined();
    for (const id of procedureValueSets()) {
      for (const c of JSON.parse(readFileSync(resolve(dir, 'fhir-mappings', 'valuesets', `${id}.json`), 'utf8')).codes) {
        expect(filter!.tokens).toContain(c.code);
      }
    }
  });

  it('gives the service\'s own Procedure search the filter and its proof while a list has a prefix', () => {
    const key = loadServiceDefinitions(resolve(ROOT, 'cds-hooks'), realMappings())[0]!.prefetch.find((p) => p.key === 'procedures')!;
    expect(key.template).toBe('Procedure?patient={{context.patientId}}&_count=200');
    expect(key.ownSearch!.template).toContain('http://hl7.org/fhir/sid/icd-10-cm|,');
    expect(key.ownSearch!.template).toContain('urn:oid:2.16.840.1.113883.6.90|');
    expect(key.ownSearch!.proof).toEqual({
      all: 'Procedure?patient={{context.patientId}}&_summary=count',
      unknown: expect.stringMatching(/^Procedure\?patient=\{\{context\.patientId\}\}&code:not=http:\/\/snomed\.info\/sct\|,.*&_summary=count$/),
    });
  });

  it('refuses a template with a placeholder it does not know, rather than sending it to the EHR', () => {
    const hooks = resolve(dir, 'cds-hooks');
    cpSync(resolve(ROOT, 'cds-hooks', 'services.json'), resolve(hooks, 'services.json'));
    const services = JSON.parse(readFileSync(resolve(hooks, 'services.json'), 'utf8'));
    services.services[0].prefetch.procedures = 'Procedure?patient={{context.patientId}}&code={{trialmatch.procedureCode}}';
    writeFileSync(resolve(hooks, 'services.json'), JSON.stringify(services));
    expect(() => loadServiceDefinitions(hooks, realMappings())).toThrow(/placeholder the service does not fill/);
  });
});
