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
  /**
   * The data is only part of the search (a paged prefetch that could not be completed): its findings count,
   * an absence in it does not. The reason is in the record's `unavailable` map under the resource type.
   */
  partial?: true;
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
 * A prefetch key that holds only part of its search (CDS Hooks clients MAY page prefetch) is never read as
 * the whole record (issue #10 item 7). It is completed by the later sources (the FHIR server): first by
 * following the page's `next` link, else by running the key's own search; if neither works, the data stays
 * partial, with the reason the criteria that would read an absence in it give for being unknown.
 */
async function completePartial(
  key: PrefetchKey,
  partial: Extract<FetchResult, { ok: true }>,
  first: string,
  later: readonly PatientDataSource[],
): Promise<FetchResult> {
  const why: string[] = [];
  for (const source of later) {
    if (partial.continueFrom && source.continuePaging) {
      const rest = await source.continuePaging(key, partial.continueFrom);
      if (rest.ok && !rest.partial) return { ...rest, origin: 'prefetch' };
      if (!rest.ok) why.push(rest.reason);
    }
    const full = await source.get(key);
    if (full?.ok && !full.partial) return full;
    if (full && !full.ok) why.push(full.reason);
  }
  const reason = why.length > 0 ? `; ${why.join('; ')}` : ', and no fhirServer was given to read the rest';
  return { ok: true, resources: partial.resources, origin: 'prefetch', partial: `${first}${reason}` };
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
  /** Per key, a first page already in hand: kept as partial if the rest is still being read at the deadline. */
  const firstPages = new Map<string, FetchResult>();
  const fromSources = async (key: PrefetchKey): Promise<FetchResult | undefined> => {
    for (let i = 0; i < sources.length; i++) {
      const result = await sources[i]!.get(key);
      if (!result) continue;
      if (result.ok && result.partial) {
        firstPages.set(key.key, result);
        return completePartial(key, result, result.partial, sources.slice(i + 1));
      }
      return result;
    }
    return undefined;
  };
  let results: [PrefetchKey, FetchResult | undefined][];
  try {
    results = await Promise.all(
      keys.map(async (key): Promise<[PrefetchKey, FetchResult | undefined]> => {
        const result = deadline ? await Promise.race([fromSources(key), deadline]) : await fromSources(key);
        if (result === 'late') {
          const first = firstPages.get(key.key);
          if (first?.ok && first.partial) {
            const { continueFrom: _next, ...page } = first;
            return [key, { ...page, partial: `${first.partial}; reading the rest took longer than ${timeoutMs} ms` }];
          }
          return [key, { ok: false, reason: `${key.resourceType} could not be read from the EHR's FHIR server: it took longer than ${timeoutMs} ms` }];
        }
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
  let unreadable = 0;
  const provenance: DataProvenance[] = [];
  const resources: Resource[] = [];
  let patient: Patient | undefined;
  for (const [key, result] of results) {
    if (!result || !result.ok) {
      unavailable.set(key.resourceType, result?.reason ?? 'not available');
      unreadable++;
      provenance.push({ key: key.key, resourceType: key.resourceType, origin: 'unavailable', count: 0 });
      continue;
    }
    const p: DataProvenance = { key: key.key, resourceType: key.resourceType, origin: result.origin, count: result.resources.length };
    if (result.pages) p.pages = result.pages;
    if (result.partial) {
      // The engine reads `unavailable` only where an absence would decide (src/engine/context.ts
      // unavailableReason): a partial page's findings still count, its gaps stay unknown.
      p.partial = true;
      unavailable.set(key.resourceType, result.partial);
    }
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
  if (unreadable === keys.length) {
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
