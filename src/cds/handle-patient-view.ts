import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import type { MappingSet } from '../mappings/compiled.js';
import { evaluateTrials } from '../engine/evaluate-trial.js';
import type { EvaluationDetail, TrialEvaluation } from '../engine/types.js';
import { FhirServerSource, type FhirRequestEvent } from '../data/fhir-server-source.js';
import { gatherPatientData, type DataProvenance } from '../data/gather-patient-data.js';
import type { PatientDataSource } from '../data/patient-data-source.js';
import { PrefetchSource, bundleResources } from '../data/prefetch-source.js';
import { readableBundle } from '../data/readable-resource.js';
import { placeRecordCodes, withLocalPlacements, type TerminologyServerUse } from '../data/place-codes.js';
import { badRequest } from '../fhir/outcomes.js';
import { fhirServerNotAllowed } from '../security/fhir-server-allowlist.js';
import { buildPatientRecord } from '../patient/patient-record.js';
import type { HookRequest } from './hook-request.js';
import { renderCards, type Card } from './render-cards.js';
import type { ServiceDefinition } from './service-definition.js';
import type { TrialAvailability } from '../trials/site-info.js';

export interface EngineDeps {
  mappings: MappingSet;
  fhir: { timeoutMs: number; maxPages: number; maxResources: number; concurrency?: number; maxResponseBytes?: number; fetch?: typeof fetch; observe?: (event: FhirRequestEvent) => void };
  /** Per hook call: total time to gather data (HOOK_TIMEOUT_MS), resources accepted (MAX_RESOURCES_PER_HOOK). */
  limits?: { hookTimeoutMs?: number; maxResources?: number };
  /** The service's public base URL (config.publicBaseUrls[0]): the cards link to the app under it. */
  publicBaseUrl: string;
  /** REFERRAL_SUGGESTIONS: each card offers "Refer to the study team" (issue #19 item 4). */
  referrals?: boolean;
  /** The site's terminology server (TERMINOLOGY_SERVER), asked before evaluation for the codes that can matter. */
  terminologyServer?: TerminologyServerUse;
}

/** The FHIR servers the caller may name (src/security/fhir-server-allowlist.ts). */
export interface FhirServerPolicy {
  allows(fhirServer: string): boolean;
}

export interface PatientViewResult {
  cards: Card[];
  evaluations: TrialEvaluation[];
  provenance: DataProvenance[];
  faults: string[];
}

/**
 * The patient-view service: gather the data (prefetch first, then the FHIR server), evaluate every trial,
 * render cards. The route around it only validates and answers.
 */
export async function handlePatientView(
  service: ServiceDefinition,
  request: HookRequest,
  deps: EngineDeps,
  now: Date,
  caller: { fhirServers: FhirServerPolicy },
  /** Each trial's availability at this site (issue #19 item 3): no card for a trial not recruiting here. */
  availability?: ReadonlyMap<string, TrialAvailability>,
  /**
   * 'decision' for the hook: an ineligible trial gives no card, and what reads the evaluations after (the log
   * line's statuses, the audit event's trials from the cards) needs only their status, so such a trial stops at
   * its first blocking criterion (issue #21 item 5). 'full' where the trace is returned ($evaluate-from-server).
   */
  detail: EvaluationDetail = 'decision',
): Promise<PatientViewResult> {
  if (request.hook !== service.hook) throw badRequest(`service ${service.id} answers the ${service.hook} hook, not ${request.hook}`, ['hook']);
  // Server-side request forgery guard (CDS Hooks 2.0 §Trusting CDS Clients), required of every caller so it
  // is never skipped (fail closed). The HTTP layer also refuses an untrusted fhirServer on every route before
  // the handler runs (src/security/client-auth.ts).
  if (request.fhirServer && !caller.fhirServers.allows(request.fhirServer)) throw fhirServerNotAllowed();
  const sources: PatientDataSource[] = [new PrefetchSource(request.prefetch ?? undefined)];
  // Cancels FHIR requests still in flight when gathering ends; a prefetch-only call has none to cancel.
  let abort: AbortController | undefined;
  if (request.fhirServer) {
    abort = new AbortController();
    const opts: ConstructorParameters<typeof FhirServerSource>[0] = {
      baseUrl: request.fhirServer,
      context: request.context,
      ...deps.fhir,
      signal: abort.signal,
    };
    if (request.fhirAuthorization) opts.accessToken = request.fhirAuthorization.access_token;
    sources.push(new FhirServerSource(opts));
  }
  const gathered = await gatherPatientData(service.prefetch, sources, request.context.patientId, {
    ...(abort ? { abort } : {}),
    ...(deps.limits?.hookTimeoutMs ? { timeoutMs: deps.limits.hookTimeoutMs } : {}),
    ...(deps.limits?.maxResources ? { maxResources: deps.limits.maxResources } : {}),
  });
  const { provenance } = gathered;
  // Issue #17 item 3: codes the lists do not hold, placed by the site's ConceptMap and terminology server
  // before evaluation (the evaluator stays pure: it reads the placements from the record).
  const record = await placeRecordCodes(gathered.record, deps.mappings.terminology.localPlacements, deps.terminologyServer);
  const { evaluations, faults } = evaluateTrials(deps.mappings.trials, record, now, deps.mappings.engine, { detail });
  const cards = renderCards(deps.mappings, evaluations, provenance, {
    publicBaseUrl: deps.publicBaseUrl,
    patientId: request.context.patientId,
    ...(availability ? { availability } : {}),
    ...(deps.referrals ? { referrals: true } : {}),
  });
  return { cards, evaluations, provenance, faults };
}

/**
 * POST /trials/$evaluate and the SMART app's POST /smart/$evaluate: one patient's resources as a Bundle, every
 * trial with its full trace. The resources are cleaned first, as the hook path cleans prefetch and FHIR
 * answers (data/readable-resource.ts): a malformed one is read as far as it is readable, never a 500.
 */
export function evaluateBundle(
  bundle: Bundle,
  deps: Omit<EngineDeps, 'publicBaseUrl'>,
  now: Date,
  /** 'full' for the routes, which return every trace; population screening asks 'decision' (src/population/screen-patient.ts). */
  detail: EvaluationDetail = 'full',
): { evaluations: TrialEvaluation[]; faults: string[]; patientId?: string } {
  const resources: Resource[] = bundleResources(readableBundle(bundle));
  const patients = resources.filter((r): r is Patient => r.resourceType === 'Patient');
  if (patients.length > 1) throw badRequest('the Bundle holds more than one Patient; send one patient at a time', ['Bundle.entry']);
  const patient = patients[0];
  // The site's ConceptMap applies here too; the terminology server is asked on the hook's path only.
  const record = withLocalPlacements(buildPatientRecord(patient, resources.filter((r) => r.resourceType !== 'Patient')), deps.mappings.terminology.localPlacements);
  const result = evaluateTrials(deps.mappings.trials, record, now, deps.mappings.engine, { detail });
  return patient?.id ? { ...result, patientId: patient.id } : result;
}
