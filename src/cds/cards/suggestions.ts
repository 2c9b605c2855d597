import type { ServiceRequest } from '@medplum/fhirtypes';
import type { CompiledTrial } from '../../engine/compiled.js';
import type { TrialEvaluation } from '../../engine/types.js';
import type { Need } from './needs.js';
import { listText } from './text.js';

export interface Suggestion {
  label: string;
  uuid: string;
  isRecommended: boolean;
  actions: { type: 'create'; description: string; resource: ServiceRequest }[];
}

export const ORDER_SUGGESTION_LABEL = 'Order the missing screening tests';

/** A trial whose card is shown, with the needs its open criteria have. */
export interface TrialNeeds {
  trial: Pick<CompiledTrial, 'id' | 'shortTitle'>;
  evaluation: Pick<TrialEvaluation, 'status'>;
  needs: readonly Need[];
}

function orderable(n: Need): boolean {
  return n.test?.order !== undefined && (n.test.category === 'laboratory' || n.test.category === 'imaging');
}

/** The trials among `shown` whose open criteria this test settles, in the cards' order. */
function trialsSettled(n: Need, shown: readonly TrialNeeds[]): TrialNeeds['trial'][] {
  return shown.filter((t) => t.evaluation.status === 'possibly-eligible' && t.needs.some((x) => x.key === n.key)).map((t) => t.trial);
}

/**
 * Issue 18 item 6 (issue #11 item 2 before it): ONE suggestion for all of the patient's cards, whose actions
 * create one draft ServiceRequest per laboratory or imaging test with an orderable code, each test once
 * however many criteria and trials it settles, naming those trials (CDS Hooks 2.0 §Suggestion, §Action type
 * `create`). Per-card suggestions drafted the same liver panel once per card. Only possibly-eligible trials
 * wait on tests; each action's `reasonCode` names the trials it settles as `urn:trialmatch-cds:trial` codes,
 * so a reader (and keepUnsuppressedCards) can tell which trials a draft is for.
 *
 * `status: draft` and `intent: proposal` (FHIR R4 ServiceRequest; RequestIntent): the service has no
 * authority to order, so what it sends is a proposal "made by someone/something that does not have an
 * intention to ensure it occurs and without providing an authorization to act"; the clinician who accepts it
 * signs the order in the EHR, which makes it an `order`. `draft` because it is not yet actionable.
 */
export function screeningOrders(shown: readonly TrialNeeds[], ranked: readonly Need[], patientId: string, newId: () => string, topicSystem: string): Suggestion | undefined {
  const actions = ranked.flatMap((n) => {
    if (!orderable(n)) return [];
    const trials = trialsSettled(n, shown);
    if (trials.length === 0) return [];
    const order = n.test!.order!;
    const resource: ServiceRequest = {
      resourceType: 'ServiceRequest',
      status: 'draft',
      intent: 'proposal',
      subject: { reference: `Patient/${patientId}` },
      code: { coding: [{ system: order.system, code: order.code, display: order.display }], text: n.label },
      reasonCode: trials.map((t) => ({ coding: [{ system: topicSystem, code: t.id, display: t.shortTitle }] })),
    };
    return [{ type: 'create' as const, description: `Draft order: ${n.label}, to settle screening for ${listText(trials.map((t) => t.shortTitle))}`, resource }];
  });
  if (actions.length === 0) return undefined;
  const trials = new Set(actions.flatMap((a) => (a.resource.reasonCode ?? []).map((r) => r.coding?.[0]?.code)));
  return { label: trials.size > 1 ? `${ORDER_SUGGESTION_LABEL} (${trials.size} trials)` : ORDER_SUGGESTION_LABEL, uuid: newId(), isRecommended: false, actions };
}

/** The trials a suggestion's draft order is for (its `reasonCode` codes in `topicSystem`). */
export function trialsOfAction(action: Suggestion['actions'][number], topicSystem: string): string[] {
  return (action.resource.reasonCode ?? []).flatMap((r) => (r.coding ?? []).filter((c) => c.system === topicSystem && c.code).map((c) => c.code as string));
}
