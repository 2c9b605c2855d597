import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { readRecords } from '../../src/coverage/read-records.js';
import { createCoverageTally, type CoverageReport } from '../../src/coverage/terminology-coverage.js';
import { ROOT, testApp } from '../support/app.js';
import { realMappings } from '../support/evaluate.js';
import { fireHook } from '../support/clinical.js';

/**
 * The site's go-live check (issue #17 item 7) on records nobody on this project wrote: the Oracle Health
 * (Cerner) API's R4 examples, the US Core IG's examples and Synthea's published sample patients, kept small
 * in test/fixtures/public-records/ (SOURCE.md there names each repository, path and commit).
 */
const PUBLIC = resolve(ROOT, 'test', 'fixtures', 'public-records');

async function coverageOf(path: string): Promise<CoverageReport> {
  const tally = createCoverageTally(realMappings());
  await readRecords(path, tally.add);
  return tally.report();
}

describe('terminology coverage of a site export', () => {
  it('reports the Cerner examples\u2019 proprietary code sets as systems no list uses, and the criteria that read such items', async () => {
    const report = await coverageOf(resolve(PUBLIC, 'cerner'));
    const cernerSets = report.systems.filter((s) => s.system.startsWith('https://fhir.cerner.com/'));
    expect(cernerSets.length).toBeGreaterThan(0);
    for (const s of cernerSets) expect(s).toMatchObject({ known: false, codesPlaced: 0, codesUnplaced: s.codesSeen });
    // Known systems: LOINC results placed in the lab lists (haemoglobin, SpO2), counted once per distinct code.
    const loinc = report.systems.find((s) => s.system === 'http://loinc.org')!;
    expect(loinc.known).toBe(true);
    expect(loinc.top.placed.map((c) => c.code)).toEqual(expect.arrayContaining(['718-7', '2708-6']));
    expect(loinc.codesPlaced + loinc.codesInNoList).toBe(loinc.codesSeen);
    // An item coded only in a proprietary code set (CPT-only procedures, an IMO-only problem) is unplaced, and the
    // criteria that read its type are named.
    const appendectomy = report.unplacedItems.find((u) => u.resourceType === 'Procedure' && u.text.startsWith('Appendectomy'));
    expect(appendectomy).toMatchObject({ count: 1 });
    expect(report.criteria.some((c) => c.resourceTypes.includes('Procedure'))).toBe(true);
    expect(report.criteria.every((c) => c.unplacedItems > 0 && c.patients > 0)).toBe(true);
  });

  it('reads the Cerner examples\u2019 "http: //snomed.info/sct" (a space in the URI) as SNOMED CT, so their opioid abuse problem is placed', async () => {
    const report = await coverageOf(resolve(PUBLIC, 'cerner'));
    expect(report.systems.map((s) => s.system)).not.toContain('http: //snomed.info/sct');
    expect(report.unplacedItems.some((u) => u.resourceType === 'Condition' && u.text === 'Opioid abuse')).toBe(false);
    const snomed = report.systems.find((s) => s.system === 'http://snomed.info/sct')!;
    expect(snomed.top.inNoList.concat(snomed.top.placed).map((c) => c.code)).toContain('5602001');
  });

  it('places a drug named only in free text by the list names, and says which list', async () => {
    const report = await coverageOf(resolve(PUBLIC, 'cerner'));
    const dopamine = report.unplacedItems.find((u) => /dopamine/i.test(u.text));
    expect(dopamine?.namedIn).toContain('vasopressors');
  });

  it('counts the published Synthea patients, every item coded in a system the lists use', async () => {
    const report = await coverageOf(resolve(PUBLIC, 'synthea-sample'));
    expect(report.patients).toBe(4);
    expect(report.systems.every((s) => s.known)).toBe(true);
    expect(report.unplacedItems).toEqual([]);
  });

  it('reads a Bulk Data export folder as NDJSON, the Medication file first, so a referenced drug is placed by its code', async () => {
    const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-coverage-'));
    try {
      const med = { resourceType: 'Medication', id: 'rtx', code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '121191', display: 'rituximab' }] } };
      const request = { resourceType: 'MedicationRequest', id: 'mr1', status: 'active', intent: 'order', subject: { reference: 'Patient/p1' }, medicationReference: { reference: 'Medication/rtx' } };
      // Bulk Data names files by type; MedicationRequest sorts before Medication alphabetically only by accident of
      // case, so the order is the reader's, not the file system's.
      writeFileSync(resolve(dir, 'MedicationRequest.ndjson'), `${JSON.stringify(request)}\n\nnot json\n`);
      writeFileSync(resolve(dir, 'Medication.ndjson'), `${JSON.stringify(med)}\n`);
      const tally = createCoverageTally(realMappings());
      const read = await readRecords(dir, tally.add);
      const report = tally.report();
      expect(read.files).toBe(2);
      expect(read.skipped).toEqual([expect.objectContaining({ file: expect.stringMatching(/MedicationRequest\.ndjson:3$/) })]);
      const rxnorm = report.systems.find((s) => s.system === 'http://www.nlm.nih.gov/research/umls/rxnorm')!;
      expect(rxnorm.top.placed[0]).toMatchObject({ code: '121191', count: 1 });
      expect(report.unplacedItems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as npm run terminology:coverage, printing the report, and refuses to run without a folder', () => {
    const script = resolve(ROOT, 'scripts', 'terminology-coverage.ts');
    const tsx = resolve(ROOT, 'node_modules', '.bin', 'tsx');
    const out = execFileSync(tsx, [script, resolve(PUBLIC, 'us-core')], { encoding: 'utf8' });
    expect(out).toMatch(/^# Terminology coverage: /);
    expect(out).toContain('| http://loinc.org | yes |');
    const json = JSON.parse(execFileSync(tsx, [script, resolve(PUBLIC, 'us-core'), '--json'], { encoding: 'utf8' })) as CoverageReport & { files: number };
    expect(json.files).toBe(1);
    expect(json.resources).toBeGreaterThan(100);
    const none = spawnSync(tsx, [script], { encoding: 'utf8' });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/usage/);
  });
});

describe('public records through the hook', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = testApp();
    await app.ready();
  });
  afterAll(async () => app.close());

  it('gives the published Synthea patients (no lupus) no card', async () => {
    const dir = resolve(PUBLIC, 'synthea-sample');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const bundle = JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as Bundle;
      expect(await fireHook(app, bundle), file).toEqual([]);
    }
  });

  it('evaluates each Cerner and US Core example patient without a fault', async () => {
    for (const source of ['cerner', 'us-core']) {
      const byPatient = new Map<string, Resource[]>();
      await readRecords(resolve(PUBLIC, source), (r) => {
        const ref = r.resourceType === 'Patient' ? `Patient/${r.id}` : subjectOf(r);
        if (!ref) return;
        byPatient.set(ref, [...(byPatient.get(ref) ?? []), r]);
      });
      expect(byPatient.size).toBeGreaterThan(1);
      for (const [ref, resources] of byPatient) {
        const bundle: Bundle = { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) };
        const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle });
        expect(res.statusCode, `${source} ${ref}`).toBe(200);
      }
    }
  });
});

function subjectOf(r: Resource): string | undefined {
  const ref = (r as { subject?: { reference?: string }; patient?: { reference?: string } }).subject?.reference ?? (r as { patient?: { reference?: string } }).patient?.reference;
  return typeof ref === 'string' ? ref.replace(/^.*(Patient\/[^/]+)$/, '$1') : undefined;
}
