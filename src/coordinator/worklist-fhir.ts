import type { Extension, Group, List } from '@medplum/fhirtypes';
import { patientReference, type Worklist, type WorklistEntry } from './worklist.js';

/** The trial as a coding, the same system the cards' source.topic uses. */
const TRIAL_SYSTEM = 'urn:trialmatch-cds:trial';
/** The screening status (src/engine/types.ts TrialStatus) and the coordinator's state (src/store/patient-states.ts). */
export const ELIGIBILITY_SYSTEM = 'urn:trialmatch-cds:eligibility-status';
export const STATE_SYSTEM = 'urn:trialmatch-cds:worklist-state';
/** The service's extensions on a List entry: what remains open, when data was last seen, the criteria. */
export const EXT = {
  openItem: 'urn:trialmatch-cds:worklist:open-item',
  lastDataSeen: 'urn:trialmatch-cds:worklist:last-data-seen',
  isNew: 'urn:trialmatch-cds:worklist:new',
  criterion: 'urn:trialmatch-cds:worklist:criterion',
  stateSetBy: 'urn:trialmatch-cds:worklist:state-set-by',
} as const;

export interface TrialLabel {
  id: string;
  title: string;
  shortTitle: string;
}

const STATUS_WORDS = { 'likely-eligible': 'Likely eligible', 'possibly-eligible': 'Possibly eligible', ineligible: 'Ineligible' } as const;

function trialCode(trial: TrialLabel): { coding: { system: string; code: string; display: string }[]; text: string } {
  return { coding: [{ system: TRIAL_SYSTEM, code: trial.id, display: trial.shortTitle }], text: trial.title };
}

/**
 * The candidates as a FHIR R4 Group (https://hl7.org/fhir/R4/group.html): `actual: true`, because it names
 * real patients (Group.actual: "an enumerated list of specific individuals"), `type: person`, one
 * `member.entity` per candidate, an absolute Patient reference since a worklist may span FHIR servers.
 * The ranking is the List's (below): a Group's members carry no order (Group.member is not ordered).
 */
export function worklistGroup(worklist: Worklist, trial: TrialLabel): Group {
  return {
    resourceType: 'Group',
    id: `worklist-${trial.id}`,
    type: 'person',
    actual: true,
    code: trialCode(trial),
    name: `Screening candidates: ${trial.shortTitle}`,
    quantity: worklist.candidates.length,
    member: worklist.candidates.map((c) => ({ entity: { reference: patientReference(c.entry), type: 'Patient' } })),
  };
}

/**
 * The ranking as a FHIR R4 List (https://hl7.org/fhir/R4/list.html): `mode: snapshot` (the list is computed
 * from screening results, not kept by hand), `orderedBy` `priority` from the list-order code system
 * (http://terminology.hl7.org/CodeSystem/list-order: "the list is sorted by priority", the method in its text),
 * entries in rank order. Each entry's `flag` (List.entry.flag, "status/workflow information about this item",
 * an example binding) carries the screening status and the coordinator's state; its extensions the open items,
 * the last date data was seen, whether the candidate is new, and each criterion's outcome.
 */
export function worklistList(worklist: Worklist, trial: TrialLabel): List {
  return {
    resourceType: 'List',
    id: `worklist-${trial.id}`,
    status: 'current',
    mode: 'snapshot',
    title: `Ranked candidates: ${trial.shortTitle}`,
    code: trialCode(trial),
    ...(worklist.screenedAt ? { date: worklist.screenedAt } : {}),
    orderedBy: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/list-order', code: 'priority', display: 'Sorted by Priority' }],
      text: 'Likely eligible first, then possibly eligible by how few items remain open, then the most recent data',
    },
    note: [{ text: 'A screening aid: the study team decides eligibility. "Likely" and "possibly" eligible, never eligible.' }],
    entry: worklist.candidates.map(listEntry),
  };
}

function listEntry(c: WorklistEntry): NonNullable<List['entry']>[number] {
  const e = c.entry;
  const extension: Extension[] = [
    ...e.openItemText.map((text) => ({ url: EXT.openItem, valueString: text })),
    ...(e.lastDataSeen ? [{ url: EXT.lastDataSeen, valueDateTime: e.lastDataSeen }] : []),
    { url: EXT.isNew, valueBoolean: e.isNew },
    ...e.criteria.map((r) => ({ url: EXT.criterion, extension: [{ url: 'id', valueString: r.id }, { url: 'outcome', valueCode: r.outcome }] })),
    ...(c.stateSet ? [{ url: EXT.stateSetBy, extension: [{ url: 'issuer', valueUri: c.stateSet.setBy.issuer }, { url: 'subject', valueString: c.stateSet.setBy.subject }, { url: 'at', valueDateTime: c.stateSet.setAt }] }] : []),
  ];
  return {
    extension,
    flag: {
      coding: [
        { system: ELIGIBILITY_SYSTEM, code: e.status, display: STATUS_WORDS[e.status] },
        { system: STATE_SYSTEM, code: c.state },
      ],
      text: `${STATUS_WORDS[e.status]}, ${e.openItems.length} open; ${c.state}`,
    },
    date: e.screenedAt,
    item: { reference: patientReference(e), type: 'Patient' },
  };
}
