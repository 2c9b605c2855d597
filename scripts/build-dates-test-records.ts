import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle, Condition, Immunization, Observation, Patient, Procedure, Resource } from '@medplum/fhirtypes';
import { CVX, LOINC, SNOMED, daysAgo } from './fhir-builders.js';

/**
 * Writes the issue #18 "Dates" test records test/clinical/records/dates-*.json: the likely-eligible example
 * child (cds-hooks/examples/sle-child-likely.json) with its dates written the way EHRs send them: a birth
 * date to the year or month, an old encephalitis transcribed last week, a reconciled medication list with no
 * start dates, results and procedures dated only by when they were entered. Run with
 * `npx tsx scripts/build-dates-test-records.ts` after changing the example; the records are committed, so a
 * test reads exactly the FHIR it names.
 */

const ROOT = resolve(import.meta.dirname, '..');
const BASE = 'sle-child-likely';

type Edit = (resources: Resource[], ref: { reference: string }) => Resource[];

/** The example, renamed to `id`, with `edit` applied to its resources. */
function writeRecord(id: string, edit: Edit): void {
  const text = readFileSync(resolve(ROOT, 'cds-hooks', 'examples', `${BASE}.json`), 'utf8').replaceAll(BASE, id);
  const resources = ((JSON.parse(text) as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  const out = edit(resources, { reference: `Patient/${id}` });
  const bundle: Bundle = { resourceType: 'Bundle', id, type: 'collection', entry: out.map((resource) => ({ fullUrl: `urn:uuid:${resource.resourceType}-${resource.id}`, resource })) };
  writeFileSync(resolve(ROOT, 'test', 'clinical', 'records', `${id}.json`), JSON.stringify(bundle, null, 1) + '\n');
}

/** Changes the one resource with this id (the example's own ids, renamed). */
function change<T extends Resource>(resources: Resource[], id: string, edit: (r: T) => T): Resource[] {
  if (!resources.some((r) => r.id === id)) throw new Error(`no resource ${id}`);
  return resources.map((r) => (r.id === id ? edit(r as T) : r));
}

const born = (birthDate: string): Edit => (rs) => rs.map((r) => (r.resourceType === 'Patient' ? ({ ...r, birthDate } satisfies Patient) : r));

// Patient.birthDate to the year: born some day of 2007, 18 or 19 on 2026-11-23 (the CD19 CAR-T study takes 5-18).
writeRecord('dates-born-2007', born('2007'));
// To the month: born in November 2007, 19 if born before the 23rd, else 18.
writeRecord('dates-born-2007-11', born('2007-11'));
// To the month, wholly inside the bound: born in February 2008, 18 whatever the day.
writeRecord('dates-born-2008-02', born('2008-02'));

const npsle = { coding: [{ system: SNOMED, code: '95644001', display: 'Systemic lupus erythematosus encephalitis (disorder)' }] };
const clinical = (code: string): Condition['clinicalStatus'] => ({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code }] });
const confirmed: Condition['verificationStatus'] = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] };

// A lupus encephalitis that began 3.5 years ago and resolved 2.6 years ago, transcribed into this EHR 12 days ago.
writeRecord('dates-encephalitis-transcribed-late', (rs, subject) => [
  ...rs,
  { resourceType: 'Condition', id: 'dates-encephalitis-transcribed-late-npsle', subject, code: npsle, clinicalStatus: clinical('resolved'), verificationStatus: confirmed, onsetDateTime: daysAgo(1278), abatementDateTime: daysAgo(950), recordedDate: daysAgo(12) } satisfies Condition,
]);
// An active lupus encephalitis with no onset, recorded 12 days ago: when it began is not in the record.
writeRecord('dates-encephalitis-recorded-only', (rs, subject) => [
  ...rs,
  { resourceType: 'Condition', id: 'dates-encephalitis-recorded-only-npsle', subject, code: npsle, clinicalStatus: clinical('active'), verificationStatus: confirmed, recordedDate: daysAgo(12) } satisfies Condition,
]);

// A reconciled medication list: prednisone 5 mg daily, active, asserted 2 days ago with no effective[x]; the
// antimalarial and the mycophenolate are left out so that the steroid alone decides the blinatumomab
// study's inclusion 6.
const steroidOnly = new Set(['dates-steroid-asserted-only-med-28', 'dates-steroid-asserted-only-med-30']);
writeRecord('dates-steroid-asserted-only', (rs) =>
  change(
    rs.filter((r) => !steroidOnly.has(r.id ?? '')),
    'dates-steroid-asserted-only-med-27',
    (r: Resource & { effectivePeriod?: unknown; dateAsserted?: string }) => {
      const { effectivePeriod: _dropped, ...rest } = r;
      return { ...rest, dateAsserted: `${daysAgo(2)}T10:15:00Z` };
    },
  ),
);

// An MMR vaccine the EHR knows only as "in infancy", entered 10 days ago (Immunization.recorded).
writeRecord('dates-live-vaccine-recorded-only', (rs, subject) => [
  ...rs,
  { resourceType: 'Immunization', id: 'dates-live-vaccine-recorded-only-mmr', status: 'completed', patient: subject, vaccineCode: { coding: [{ system: CVX, code: '03', display: 'MMR - measles, mumps and rubella virus vaccine' }] }, occurrenceString: 'in infancy', recorded: daysAgo(10) } satisfies Immunization,
]);

// The eGFR known only by when the lab issued it (3 days ago), with no collection time, and below 30.
writeRecord('dates-egfr-issued-only', (rs) =>
  change(rs, 'dates-egfr-issued-only-obs-10', (r: Observation) => {
    const { effectiveDateTime: _dropped, ...rest } = r;
    return { ...rest, issued: `${daysAgo(3)}T14:00:00Z`, valueQuantity: { ...r.valueQuantity, value: 20 } };
  }),
);

const hemodialysis = { coding: [{ system: SNOMED, code: '302497006', display: 'Hemodialysis (procedure)' }] };
// Haemodialysis performed "2026-08": the 3-month window starts on 2026-08-23, inside that month.
writeRecord('dates-dialysis-month-only', (rs, subject) => [
  ...rs,
  { resourceType: 'Procedure', id: 'dates-dialysis-month-only-hd', status: 'completed', subject, code: hemodialysis, performedDateTime: '2026-08' } satisfies Procedure,
]);
// Haemodialysis with no performed[x], last updated on the server 5 days ago.
writeRecord('dates-dialysis-last-updated-only', (rs, subject) => [
  ...rs,
  { resourceType: 'Procedure', id: 'dates-dialysis-last-updated-only-hd', status: 'completed', subject, code: hemodialysis, meta: { lastUpdated: `${daysAgo(5)}T11:00:00Z` } } satisfies Procedure,
]);

// A serum hCG reported positive 1 day ago with no collection time (issued only), after the negative one taken
// 3 days ago: either may be the latest.
writeRecord('dates-hcg-positive-issued-only', (rs, subject) => [
  ...rs,
  {
    resourceType: 'Observation',
    id: 'dates-hcg-positive-issued-only-hcg',
    status: 'final',
    subject,
    code: { coding: [{ system: LOINC, code: '2118-8', display: 'Serum hCG' }], text: 'Serum hCG' },
    issued: `${daysAgo(1)}T07:00:00Z`,
    valueCodeableConcept: { coding: [{ system: SNOMED, code: '10828004', display: 'Positive' }], text: 'Positive' },
  } satisfies Observation,
]);
