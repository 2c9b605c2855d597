import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportResources } from '../../scripts/build-cohort.js';
import { largeLupusRecord } from '../../scripts/build-large-record.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { ownerOfResource } from '../../src/population/group-by-patient.js';
import { screenNdjsonFiles } from '../../src/population/screen-files.js';
import { screenPatients, startScreenPool, type ScreenOptions, type ScreenSummary } from '../../src/population/screen-patients.js';
import { screeningEntry, type ScreeningEntry } from '../../src/population/screening-entry.js';
import { BELIMUMAB_RECRUITING, ROOT, exampleBundle, exampleIds, syntheaBundles, testApp } from '../support/app.js';
import { clinicalRecord, evaluateOverHttp } from '../support/clinical.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { hookTrace } from '../support/hook-trace.js';

type Entry = Omit<ScreeningEntry, 'isNew'>;

/**
 * One patient's Bundle as a Bulk Data export holds it (references as a server writes them, only the types the
 * trials read), keeping only what belongs to the patient: the hook, `$evaluate` and the screening then all
 * read the same resources.
 */
function asExported(bundle: Bundle): Bundle {
  const resources = exportResources(bundle);
  const patientId = patientIdOf(bundle);
  const kept = resources.filter((r) => r.resourceType === 'Medication' || ownerOfResource(r as unknown as Record<string, unknown>) === patientId);
  return { resourceType: 'Bundle', type: 'collection', entry: kept.map((resource) => ({ resource })) };
}

/** The bundles screened: every example patient, the Synthea records and the clinical test records. */
function patientBundles(): Bundle[] {
  const records = readdirSync(resolve(ROOT, 'test', 'clinical', 'records'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => clinicalRecord(f.slice(0, -'.json'.length)));
  // Several clinical records reuse an example's patient id: the first bundle of each patient is screened.
  const seen = new Set<string>();
  return [...exampleIds().map(exampleBundle), ...syntheaBundles().map((s) => s.bundle), ...records].map(asExported).filter((b) => {
    const id = patientIdOf(b);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** The bundles as NDJSON files split by type (one file per type, every patient in it), as an export gives them. */
function writeExport(dir: string, bundles: readonly Bundle[]): string[] {
  const byType = new Map<string, string[]>();
  const medications = new Set<string>();
  for (const b of bundles) {
    for (const e of b.entry ?? []) {
      const r = e.resource as Resource;
      const line = JSON.stringify(r);
      // A Medication is shared, written once however many patients' records reference it.
      if (r.resourceType === 'Medication') {
        if (medications.has(line)) continue;
        medications.add(line);
      }
      const list = byType.get(r.resourceType) ?? [];
      list.push(line);
      byType.set(r.resourceType, list);
    }
  }
  return [...byType].map(([type, lines]) => {
    const file = join(dir, `${type}.ndjson`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  });
}

async function collect(run: (sink: (entries: Entry[]) => Promise<void>) => Promise<unknown>): Promise<Entry[]> {
  const out: Entry[] = [];
  await run(async (entries) => {
    out.push(...entries);
  });
  return out;
}

const key = (e: { patientId: string; trialId: string }): string => `${e.patientId} ${e.trialId}`;

describe('screening a population from NDJSON', () => {
  let app: FastifyInstance;
  let dir: string;
  let bundles: Bundle[];
  let files: string[];
  let options: ScreenOptions;
  let entries: Entry[];

  beforeAll(async () => {
    // Every trial recruiting, so each screened trial can be compared with a card (the belimumab study is not yet
    // recruiting in its document and gives no card; its evaluation is the same).
    app = testApp({}, BELIMUMAB_RECRUITING);
    await app.ready();
    dir = mkdtempSync(join(tmpdir(), 'trialmatch-screen-test-'));
    bundles = patientBundles();
    files = writeExport(dir, bundles);
    // Two worker threads here, as on the 2-core machine; the other tests screen in the test's own thread.
    options = { mappings: loadMappings({ dir: join(ROOT, 'fhir-mappings') }), now: ANCHOR, fhirServer: 'http://ehr.example/fhir', jobId: 'job-1', threads: 2 };
    entries = await collect((sink) => screenNdjsonFiles(files, options, sink));
  }, 120_000);

  afterAll(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('screens twice with threads kept between the calls (startScreenPool), as it does with threads of its own, and refuses them for another job', async () => {
    const pool = startScreenPool({ ...options, threads: 1 });
    try {
      const kept = { ...options, threads: 1, pool };
      const first = await collect((sink) => screenNdjsonFiles(files, kept, sink));
      // The call did not close the threads: the second screens through them.
      const second = await collect((sink) => screenNdjsonFiles(files, kept, sink));
      const sorted = (list: Entry[]): Entry[] => [...list].sort((a, b) => key(a).localeCompare(key(b)));
      expect(sorted(first)).toEqual(sorted(entries));
      expect(sorted(second)).toEqual(sorted(entries));
      // Threads started for job-1 write job-1 into every entry: never lent to another job.
      await expect(screenNdjsonFiles(files, { ...kept, jobId: 'job-2' }, () => Promise.resolve())).rejects.toThrow(/another job/);
    } finally {
      await pool.close();
    }
  }, 120_000);

  type PatientResources = { patientId: string; resources: Resource[] };
  const asPatient = (b: Bundle): PatientResources => ({ patientId: patientIdOf(b), resources: (b.entry ?? []).map((e) => e.resource as Resource) });

  /** A patient's Bundle with one 20 MiB text result: over the 16 Mi characters a 64 MiB thread takes (patientCharLimit). */
  const giantRecord = (id: string): Bundle => ({
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      { resource: { resourceType: 'Patient', id, birthDate: '2014-01-01' } },
      { resource: { resourceType: 'Observation', id: `${id}-note`, status: 'final', code: { text: 'note' }, subject: { reference: `Patient/${id}` }, valueString: 'x'.repeat(20 * 1024 * 1024) } },
    ],
  });

  /**
   * `faulted`'s entries must be faults (every trial still possible, every criterion unknown: a fault is missing
   * data, never a reason to hide), and every patient of `others` must have the full screen's entries.
   */
  function expectFaultedAndScreened(got: readonly Entry[], faulted: string, others: Iterable<string>): Entry[] {
    const faults = got.filter((e) => e.patientId === faulted);
    expect(faults).toHaveLength(options.mappings.trials.length);
    expect(faults.every((e) => e.status === 'possibly-eligible' && e.criteria.every((c) => c.outcome === 'unknown'))).toBe(true);
    const sorted = (list: Entry[]): Entry[] => [...list].sort((a, b) => key(a).localeCompare(key(b)));
    for (const patientId of others) {
      expect(sorted(got.filter((e) => e.patientId === patientId))).toEqual(sorted(entries.filter((e) => e.patientId === patientId)));
    }
    return faults;
  }

  /** Screens the patients on one thread of 64 MiB (expectFaultedAndScreened); returns the summary. */
  async function screenWithSmallThread(patients: readonly PatientResources[], faulted: string): Promise<ScreenSummary> {
    async function* each(): AsyncGenerator<PatientResources> {
      yield* patients;
    }
    const got: Entry[] = [];
    const summary = await screenPatients(each(), { ...options, threads: 1, threadHeapMb: 64 }, async (list) => {
      got.push(...list);
    });
    expectFaultedAndScreened(got, faulted, patients.filter((p) => p.patientId !== faulted).map((p) => p.patientId));
    return summary;
  }

  it('a record larger than a thread can hold is never sent to one: that patient gets fault entries, the others are screened', async () => {
    // One 200 MiB resource sent to a thread of the default heap took the whole process down.
    const [first, ...rest] = bundles.slice(0, 3).map(asPatient);
    const summary = await screenWithSmallThread([first!, asPatient(giantRecord('giant-record')), ...rest], 'giant-record');
    expect(summary).toMatchObject({ patients: 4, screened: 4, tooLarge: 1, failedBatches: 0, faults: 1 });
  }, 120_000);

  it('a patient of an export larger than a thread can hold is measured in its bucket file and never decoded: fault entries, the others screened', async () => {
    // The same record written into the export's files; the screen's grouping gets patientCharLimit as
    // maxPatientBytes, so the patient's lines are never read into the main thread's heap, nor hashed there.
    const giantDir = mkdtempSync(join(tmpdir(), 'trialmatch-giant-'));
    try {
      const some = bundles.slice(0, 3);
      const exported = writeExport(giantDir, [...some, giantRecord('giant-export')]);
      let summary: ScreenSummary | undefined;
      const got = await collect(async (sink) => (summary = await screenNdjsonFiles(exported, { ...options, threads: 1, threadHeapMb: 64, grouping: { bucketBytes: 4 * 1024 * 1024, tmpDir: giantDir } }, sink)));
      expect(summary).toMatchObject({ patients: 4, screened: 4, tooLarge: 1, failedBatches: 0, faults: 1 });
      const faults = expectFaultedAndScreened(got, 'giant-export', some.map(patientIdOf));
      expect(faults.every((e) => e.dataDigest === 'too-large-to-screen')).toBe(true);
    } finally {
      rmSync(giantDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('a thread that runs out of heap fails only its batch: those patients get fault entries, a new thread screens the rest, and the summary counts the batch', async () => {
    // The large lupus record (30,132 resources, 13 MiB of NDJSON: under the limit of a 64 MiB thread, but more
    // than one can evaluate): the thread dies (ERR_WORKER_OUT_OF_MEMORY) and a new one takes the next batch.
    const large = asPatient(largeLupusRecord('large-record-oom'));
    const summary = await screenWithSmallThread([large, ...bundles.slice(0, 2).map(asPatient)], large.patientId);
    expect(summary).toMatchObject({ patients: 3, screened: 3, failedBatches: 1, tooLarge: 0, faults: 1 });
  }, 120_000);

  it('gives every patient one entry per trial, with the job and server named', () => {
    const patients = new Set(bundles.map(patientIdOf));
    expect(patients.size).toBe(bundles.length);
    expect(new Set(entries.map((e) => e.patientId))).toEqual(patients);
    expect(entries).toHaveLength(patients.size * options.mappings.trials.length);
    expect(new Set(entries.map(key)).size).toBe(entries.length);
    expect(entries.every((e) => e.jobId === 'job-1' && e.fhirServer === 'http://ehr.example/fhir' && e.screenedAt === ANCHOR.toISOString())).toBe(true);
    // The examples include candidates: the test compares more than ineligible records.
    expect(entries.some((e) => e.status === 'possibly-eligible')).toBe(true);
  });

  it('gives the statuses, open items and criteria the hook gives the same patients', async () => {
    const byKey = new Map(entries.map((e) => [key(e), e]));
    for (const bundle of bundles) {
      const patientId = patientIdOf(bundle);
      const payload = hookRequest(patientId, { prefetch: prefetchFor(bundle) });
      const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload });
      expect(res.statusCode).toBe(200);
      const { evaluations } = await hookTrace(app, payload);
      for (const ev of evaluations) {
        const e = byKey.get(`${patientId} ${ev.trialId}`);
        if (ev.status === 'ineligible') {
          // Screening stops an ineligible trial at its first blocking criterion (detail 'decision'): the entry
          // holds the criteria evaluated up to it, each as the full trace has it, and one of the trace's blocking ones.
          const full = new Map(ev.criteria.map((c) => [c.id, c.outcome]));
          expect(e?.status, `${patientId} ${ev.trialId}`).toBe('ineligible');
          expect(e?.criteria.map((c) => [c.id, c.outcome])).toEqual(e?.criteria.map((c) => [c.id, full.get(c.id)]));
          // A record not screened (the patient died) is ineligible before any criterion.
          if (ev.notScreened) expect(e?.criteria).toEqual([]);
          else expect(e?.criteria.some((c) => ev.blocking.includes(c.id))).toBe(true);
          continue;
        }
        const open = ev.criteria.filter((c) => c.outcome === 'unknown' || c.outcome === 'review').map((c) => c.id);
        expect({ patientId, trial: ev.trialId, status: e?.status, reason: e?.statusReason, open: e?.openItems, criteria: e?.criteria }).toEqual({
          patientId,
          trial: ev.trialId,
          status: ev.status,
          reason: ev.statusReason.code,
          open,
          criteria: ev.criteria.map((c) => ({ id: c.id, outcome: c.outcome })),
        });
      }
      // A card for each trial the screening finds likely or possibly eligible, with the same status.
      const cards = res.json<{ cards: { extension: Record<string, { trialId: string; status: string }> }[] }>().cards.map((c) => Object.values(c.extension)[0]!);
      const shown = entries.filter((e) => e.patientId === patientId && e.status !== 'ineligible');
      expect(cards.map((c) => `${c.trialId} ${c.status}`).sort()).toEqual(shown.map((e) => `${e.trialId} ${e.status}`).sort());
    }
  }, 120_000);

  it('gives the statuses and open items POST /trials/$evaluate gives', async () => {
    const byKey = new Map(entries.map((e) => [key(e), e]));
    for (const bundle of bundles) {
      const patientId = patientIdOf(bundle);
      for (const t of await evaluateOverHttp(app, bundle)) {
        const e = byKey.get(`${patientId} ${t.trialId}`);
        // An ineligible trial's entry holds only the criteria evaluated up to the blocking one (see above).
        if (t.status === 'ineligible') {
          expect(e?.status).toBe('ineligible');
          continue;
        }
        // The entry the contract's screeningEntry makes of the same evaluation says the same words.
        expect(screeningEntry(t, { patientId, fhirServer: options.fhirServer, jobId: 'job-1', dataDigest: '-' }).openItemText).toEqual(e?.openItemText);
        expect({ patientId, trial: t.trialId, status: e?.status, open: e?.openItemText }).toEqual({
          patientId,
          trial: t.trialId,
          status: t.status,
          // The words the worklist shows ("Inclusion 4: …"), as src/population/screening-entry.ts documents them.
          open: t.criteria.filter((c) => c.outcome === 'unknown' || c.outcome === 'review').map((c) => `${c.type === 'inclusion' ? 'Inclusion' : 'Exclusion'} ${c.item}: ${c.text}`),
        });
      }
    }
  }, 120_000);

  it('groups through bucket files on disk as it groups in memory', async () => {
    const bucketed = await collect((sink) => screenNdjsonFiles(files, { ...options, threads: 0, grouping: { bucketBytes: 64 * 1024 } }, sink));
    const strip = (list: Entry[]): Entry[] => [...list].sort((a, b) => key(a).localeCompare(key(b)));
    expect(strip(bucketed)).toEqual(strip(entries));
  }, 120_000);

  it('screens resources given in memory (screenPatients) as it screens the files', async () => {
    const inMemory = await collect((sink) =>
      screenPatients(
        (async function* () {
          for (const b of bundles) yield { patientId: patientIdOf(b), resources: (b.entry ?? []).map((e) => e.resource as Resource) };
        })(),
        { ...options, threads: 0 },
        sink,
      ),
    );
    const view = (list: Entry[]): string[] => list.map((e) => `${key(e)} ${e.status} ${e.openItems.join(',')} ${e.lastDataSeen ?? '-'}`).sort();
    expect(view(inMemory)).toEqual(view(entries));
  }, 120_000);

  it('skips a patient whose data digest is unchanged and re-screens one whose data changed', async () => {
    const held = new Map(entries.map((e) => [e.patientId, e.dataDigest]));
    const changed = patientIdOf(bundles[0]!);
    held.set(changed, 'an older digest');
    const asked: string[] = [];
    const previousDigests = (ids: readonly string[]): Promise<Map<string, string>> => {
      asked.push(...ids);
      return Promise.resolve(new Map(ids.flatMap((id) => (held.has(id) ? [[id, held.get(id)!] as const] : []))));
    };
    const out: Entry[] = [];
    const summary = await screenNdjsonFiles(files, { ...options, threads: 0, previousDigests }, async (list) => {
      out.push(...list);
    });
    expect(new Set(asked).size).toBe(bundles.length);
    expect(summary).toMatchObject({ patients: bundles.length, screened: 1, unchanged: bundles.length - 1, faults: 0 });
    expect(new Set(out.map((e) => e.patientId))).toEqual(new Set([changed]));
  }, 120_000);

  it('turns a record it cannot read into entries with every criterion unknown and counts the fault, and goes on', async () => {
    const faulty = mkdtempSync(join(tmpdir(), 'trialmatch-screen-faulty-'));
    try {
      const good = bundles.find((b) => patientIdOf(b) === 'sle-child-likely')!;
      const lines = (good.entry ?? []).map((e) => JSON.stringify(e.resource));
      // A second, different Patient with the same id: the record no longer says who the patient is (evaluateBundle refuses it).
      const twin = JSON.stringify({ resourceType: 'Patient', id: 'twin', gender: 'male', birthDate: '1950-01-01' });
      const deep = JSON.stringify({ resourceType: 'Observation', id: 'deep', subject: { reference: 'Patient/deep' }, extension: [JSON.parse('{"a":'.repeat(150) + '1' + '}'.repeat(150)) as unknown] });
      const file = join(faulty, 'export.ndjson');
      writeFileSync(
        file,
        [...lines, twin, JSON.stringify({ resourceType: 'Patient', id: 'twin', gender: 'female', birthDate: '2012-01-01' }), JSON.stringify({ resourceType: 'Patient', id: 'deep' }), deep, '{"resourceType": "Observation", not json'].join('\n'),
      );
      const out: Entry[] = [];
      const summary = await screenNdjsonFiles([file], { ...options, threads: 0 }, async (list) => {
        out.push(...list);
      });
      expect(summary).toMatchObject({ patients: 3, screened: 3 });
      // Two records that cannot be read, and one line that is not JSON.
      expect(summary.faults).toBe(3);
      for (const id of ['twin', 'deep']) {
        const mine = out.filter((e) => e.patientId === id);
        expect(mine).toHaveLength(options.mappings.trials.length);
        for (const e of mine) {
          expect(e.status).toBe('possibly-eligible');
          expect(e.criteria.every((c) => c.outcome === 'unknown')).toBe(true);
          expect(e.openItems).toEqual(e.criteria.map((c) => c.id));
        }
      }
      const child = out.filter((e) => e.patientId === 'sle-child-likely');
      expect(child.map((e) => `${e.trialId} ${e.status}`).sort()).toEqual(entries.filter((e) => e.patientId === 'sle-child-likely').map((e) => `${e.trialId} ${e.status}`).sort());
    } finally {
      rmSync(faulty, { recursive: true, force: true });
    }
  }, 120_000);
});
