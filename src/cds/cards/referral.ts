import type { PractitionerRole, Reference, ServiceRequest } from '@medplum/fhirtypes';
import type { CompiledTrial } from '../../engine/compiled.js';
import type { Suggestion } from './suggestions.js';

export const REFERRAL_LABEL = 'Refer to the study team';

/**
 * SNOMED CT 3457005 "Patient referral" as the ServiceRequest's category: the root of FHIR R4's referral-type
 * value set (http://hl7.org/fhir/ValueSet/referral-type, "is-a 3457005", OID 2.16.840.1.113883.4.642.3.503)
 * and a code of US Core's ServiceRequest category value set
 * (http://hl7.org/fhir/us/core/ValueSet/us-core-servicerequest-category, since US Core 9.0.0).
 */
export const REFERRAL_CATEGORY = { system: 'http://snomed.info/sct', code: '3457005', display: 'Patient referral' } as const;

/**
 * Issue #19 item 4: "Refer to the study team" on a likely or possibly eligible card (CDS Hooks 2.0 §Suggestion,
 * action `create`): a ServiceRequest `status: draft`, `intent: proposal` (the service has no authority to
 * refer; the clinician who accepts signs it in the EHR, as for the draft orders), category Patient referral,
 * the patient as subject, the trial as `reasonCode` (the cards' trial system), and as performer the site's
 * study contact, as the PractitionerRole the service publishes (src/trials/research-study.ts), when the site
 * file names one; without one there is no performer and the description names the study team.
 * Kept small: three cards' referrals fit in the typical response's 8 KiB.
 */
export function referralSuggestion(
  trial: Pick<CompiledTrial, 'id' | 'shortTitle'>,
  patientId: string,
  newId: () => string,
  topicSystem: string,
  performer?: Reference<PractitionerRole>,
): Suggestion {
  const resource: ServiceRequest = {
    resourceType: 'ServiceRequest',
    status: 'draft',
    intent: 'proposal',
    category: [{ coding: [{ system: REFERRAL_CATEGORY.system, code: REFERRAL_CATEGORY.code }] }],
    subject: { reference: `Patient/${patientId}` },
    reasonCode: [{ coding: [{ system: topicSystem, code: trial.id }] }],
    ...(performer ? { performer: [performer] } : {}),
  };
  return { label: REFERRAL_LABEL, uuid: newId(), isRecommended: false, actions: [{ type: 'create', description: `Referral to the study team: ${trial.shortTitle}`, resource }] };
}
