import type { Patient, Resource } from '@medplum/fhirtypes';
import { badRequest, contentTooLarge, preconditionFailed } from '../fhir/outcomes.js';
import { buildPatientRecord, type ClinicalType, type PatientRecord } from '../patient/patient-record.js';
import type { FetchResult, PatientDataSource } from './patient-data-source.js';
import type { PrefetchKey, PrefetchResourceType } from './prefetch-key.js';
import { readableResource } from './readable-resource.js';

export interface DataProvenance {
  key: string;
  resourceType: PrefetchResourceType;
  origin: 'prefetch' | 'fhir-server' | 'unavailable';
  count: number;
  pages?: number;
}

export interface GatherOptions {
  /**
   * Total time for all keys (HOOK_TIMEOUT_MS): the keys still outstanding then are unavailable ("took longer
   * than N ms") and the hook answers with what it has.
   */
  timeoutMs?: number;
  /** Aborted when the time is up or gathering ends, so sources cancel requests still in flight. */
  abort?: AbortController;
  /** Resources accepted across all keys, prefetch and fetched (MAX_RESOURCES_PER_HOOK); more is a 413. */
  maxResources?: number;
}

export interface GatheredData {
  record: PatientRecord;
  provenance: DataProvenance[];
}

/** The patient a resource belongs to, when it says so with a relative or absolute Patient reference. */
function patientOf(r: Resource): string | undefined {
  const ref = (r as { subject?: { reference?: string }; patient?: { reference?: string } }).subject?.reference ??
    (r as { patient?: { reference?: string } }).patient?.reference;
  const m = ref ? /(?:^|\/)Patient\/([^/]+)$/.exec(ref) : null;
  return m?.[1];
}

/**
 * Gets every prefetch key's data: from the first source that answers for it (prefetch, then the FHIR
 * server), all keys in parallel. A key no source can answer is a 412 (CDS Hooks: required data could not
 * be had). A key whose FHIR search failed is recorded as unavailable, so the criteria that need it are
 * unknown rather than "not present"; if nothing at all could be read, that is a 412 too.
 */
export async function gatherPatientData(
  keys: readonly PrefetchKey[],
  sources: readonly PatientDataSource[],
  patientId: string,
  options: GatherOptions = {},
): Promise<GatheredData> {
  const { timeoutMs, abort, maxResources } = options;
  let timer: NodeJS.Timeout | undefined;
  const deadline =
    timeoutMs === undefined
      ? undefined
      : new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), timeoutMs);
        });
  const fromSources = async (key: PrefetchKey): Promise<FetchResult | undefined> => {
    for (const source of sources) {
      const result = await source.get(key);
      if (result) return result;
    }
    return undefined;
  };
  let results: [PrefetchKey, FetchResult | undefined][];
  try {
    results = await Promise.all(
      keys.map(async (key): Promise<[PrefetchKey, FetchResult | undefined]> => {
        const result = deadline ? await Promise.race([fromSources(key), deadline]) : await fromSources(key);
        if (result === 'late') return [key, { ok: false, reason: `${key.resourceType} could not be read from the EHR's FHIR server: it took longer than ${timeoutMs} ms` }];
        return [key, result];
      }),
    );
  } finally {
    clearTimeout(timer);
    // Whatever is still in flight (late keys) is no longer wanted.
    abort?.abort();
  }
  if (maxResources !== undefined) {
    const total = results.reduce((n, [, r]) => n + (r?.ok ? r.resources.length : 0), 0);
    if (total > maxResources) {
      throw contentTooLarge(`the call carries ${total} resources, more than the ${maxResources} this service accepts per call`);
    }
  }
  const missing = results.filter(([, r]) => r === undefined).map(([k]) => k.key);
  if (missing.length > 0) {
    throw preconditionFailed(
      `prefetch ${missing.join(', ')} not provided and no fhirServer to fetch ${missing.length === 1 ? 'it' : 'them'} from`,
      missing.map((k) => `prefetch.${k}`),
    );
  }
  const unavailable = new Map<ClinicalType | 'Patient', string>();
  const provenance: DataProvenance[] = [];
  const resources: Resource[] = [];
  let patient: Patient | undefined;
  for (const [key, result] of results) {
    if (!result || !result.ok) {
      unavailable.set(key.resourceType, result?.reason ?? 'not available');
      provenance.push({ key: key.key, resourceType: key.resourceType, origin: 'unavailable', count: 0 });
      continue;
    }
    const p: DataProvenance = { key: key.key, resourceType: key.resourceType, origin: result.origin, count: result.resources.length };
    if (result.pages) p.pages = result.pages;
    provenance.push(p);
    for (const raw of result.resources) {
      const r = readableResource(raw);
      if (typeof r.resourceType !== 'string') continue;
      if (r.resourceType === 'Patient') {
        if (r.id && r.id !== patientId) throw badRequest(`prefetch.${key.key} holds Patient/${r.id}, not the context's patient`, [`prefetch.${key.key}`]);
        patient = r;
        continue;
      }
      const owner = patientOf(r);
      if (owner && owner !== patientId) {
        throw badRequest(`prefetch.${key.key} holds a ${r.resourceType} of another patient`, [`prefetch.${key.key}`]);
      }
      resources.push(r);
    }
  }
  if (unavailable.size === keys.length) {
    throw preconditionFailed(`no patient data could be read: ${[...unavailable.values()][0] ?? ''}`);
  }
  let record: PatientRecord;
  try {
    record = buildPatientRecord(patient, resources, unavailable);
  } catch {
    // Defence in depth: data shaped in a way readableResource does not foresee is the caller's bad input.
    throw badRequest('the patient data holds a resource whose structure is not valid FHIR; the service could not index it', ['prefetch']);
  }
  return { record, provenance };
}
