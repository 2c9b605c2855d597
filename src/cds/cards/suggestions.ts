import type { ServiceRequest } from '@medplum/fhirtypes';
import type { CompiledTrial } from '../../engine/compiled.js';
import type { TrialEvaluation } from '../../engine/types.js';
import type { Need } from './needs.js';

export interface Suggestion {
  label: string;
  uuid: string;
  isRecommended: boolean;
  actions: { type: 'create'; description: string; resource: ServiceRequest }[];
}

export const ORDER_SUGGESTION_LABEL = 'Order the missing screening tests';

/**
 * Issue #11 item 2: for a possibly-eligible trial whose open criteria wait on laboratory or imaging tests
 * with an orderable code, one suggestion whose actions create draft ServiceRequests (CDS Hooks 2.0
 * §Suggestion, §Action type `create`), one per orderable however many criteria it settles.
 *
 * `status: draft` and `intent: proposal` (FHIR R4 ServiceRequest; RequestIntent): the service has no
 * authority to order, so what it sends is a proposal "made by someone/something that does not have an
 * intention to ensure it occurs and without providing an authorization to act"; the clinician who accepts it
 * signs the order in the EHR, which makes it an `order`. `draft` because it is not yet actionable.
 */
export function orderSuggestion(trial: CompiledTrial, e: TrialEvaluation, needs: readonly Need[], patientId: string, newId: () => string): Suggestion | undefined {
  if (e.status !== 'possibly-eligible') return undefined;
  const orderable = needs.filter((n) => n.test?.order && (n.test.category === 'laboratory' || n.test.category === 'imaging'));
  if (orderable.length === 0) return undefined;
  return {
    label: ORDER_SUGGESTION_LABEL,
    uuid: newId(),
    isRecommended: false,
    actions: orderable.map((n) => {
      const order = n.test!.order!;
      const resource: ServiceRequest = {
        resourceType: 'ServiceRequest',
        status: 'draft',
        intent: 'proposal',
        subject: { reference: `Patient/${patientId}` },
        code: { coding: [{ system: order.system, code: order.code, display: order.display }], text: n.label },
        reasonCode: [{ text: `Screening for ${trial.shortTitle}` }],
      };
      return { type: 'create' as const, description: `Draft order: ${n.label}, to settle screening for ${trial.shortTitle}`, resource };
    }),
  };
}
