import type { ContactDetail, Extension, Group, GroupCharacteristic, PractitionerRole, ResearchStudy } from '@medplum/fhirtypes';
import type { CompiledCriterion, CompiledRule, CompiledTrial } from '../engine/compiled.js';
import { CANONICAL_BASE, valueSetUrl } from '../terminology/canonical.js';
import type { RegistryOverallStatus } from './registry-status.js';
import type { SiteStatus, TrialAvailability } from './site-info.js';

/**
 * Each trial as a FHIR R4 ResearchStudy (issue #19 item 3), so other tools can read the trials: its status is
 * the site's, its `enrollment` a Group holding one characteristic per protocol item, after the EBM-on-FHIR
 * StudyEligibilityCriteria profile (http://hl7.org/fhir/uv/ebm/StructureDefinition/study-eligibility-criteria,
 * HL7 Evidence Based Medicine on FHIR IG, https://build.fhir.org/ig/HL7/ebm/StructureDefinition-study-eligibility-criteria.html).
 * That profile is on a later FHIR version than R4 and is not claimed in meta.profile: the Group is R4, with
 * what R4's Group.characteristic lacks (the protocol text, the code lists' canonical URLs) as the project
 * extensions below.
 */

/** The protocol item's text, verbatim (the profile's characteristic description). */
export const CHARACTERISTIC_DESCRIPTION = `${CANONICAL_BASE}/StructureDefinition/characteristic-description`;
/** A code list the item reads, by its canonical ValueSet URL (the profile's characteristic definition by canonical). */
export const CHARACTERISTIC_DEFINITION = `${CANONICAL_BASE}/StructureDefinition/characteristic-definition-canonical`;
/** The site's own status (open, paused, closed, not-participating), beside ResearchStudy.status. */
export const SITE_STATUS_EXTENSION = `${CANONICAL_BASE}/StructureDefinition/site-status`;
/** The registry's status code (ClinicalTrials.gov overallStatus) and its as-of date. */
export const REGISTRY_STATUS_EXTENSION = `${CANONICAL_BASE}/StructureDefinition/registry-status`;
export const CRITERION_SYSTEM = 'urn:trialmatch-cds:criterion';
export const TRIAL_SYSTEM = 'urn:trialmatch-cds:trial';
/** ClinicalTrials.gov's NCT number, as the HL7 clinical-trial IGs write its system. */
export const NCT_SYSTEM = 'http://clinicaltrials.gov';

/**
 * R4 ResearchStudy.status (required binding, http://hl7.org/fhir/R4/valueset-research-study-status.html).
 * A site not open decides: paused is temporarily closed to accrual; closed, and not taking part at all, are
 * closed to accrual here. An open site takes the registry's state: a study not yet recruiting is approved but
 * not active, one suspended is temporarily closed, and so on.
 */
const FOR_SITE: Record<Exclude<SiteStatus, 'open'>, ResearchStudy['status']> = {
  paused: 'temporarily-closed-to-accrual',
  closed: 'closed-to-accrual',
  'not-participating': 'closed-to-accrual',
};
const FOR_REGISTRY: Record<RegistryOverallStatus, ResearchStudy['status']> = {
  RECRUITING: 'active',
  ENROLLING_BY_INVITATION: 'active',
  UNKNOWN: 'active',
  AVAILABLE: 'active',
  NOT_YET_RECRUITING: 'approved',
  ACTIVE_NOT_RECRUITING: 'closed-to-accrual',
  SUSPENDED: 'temporarily-closed-to-accrual',
  TEMPORARILY_NOT_AVAILABLE: 'temporarily-closed-to-accrual',
  NO_LONGER_AVAILABLE: 'closed-to-accrual',
  APPROVED_FOR_MARKETING: 'completed',
  WITHHELD: 'closed-to-accrual',
  TERMINATED: 'administratively-completed',
  COMPLETED: 'completed',
  WITHDRAWN: 'withdrawn',
};

export function researchStudyStatus(a: TrialAvailability): ResearchStudy['status'] {
  return a.site.status === 'open' ? FOR_REGISTRY[a.registry.status] : FOR_SITE[a.site.status];
}

/** R4 research-study-phase codes for the phases the trial files print. */
const PHASES: Record<string, string> = { 'Phase 1': 'phase-1', 'Phase 2': 'phase-2', 'Phase 3': 'phase-3', Observational: 'n-a' };

export function groupId(trial: CompiledTrial): string {
  return `${trial.id}-eligibility`;
}

function listsRead(rule: CompiledRule, out: Set<string>): Set<string> {
  if ('of' in rule) for (const r of rule.of) listsRead(r, out);
  else for (const read of rule.reads) for (const m of read.valueSet?.members ?? (read.valueSet ? [read.valueSet] : [])) out.add(m.id);
  return out;
}

function characteristicOf(c: CompiledCriterion): GroupCharacteristic {
  const lists = [...listsRead(c.rule, new Set())].sort();
  const extension: Extension[] = [
    { url: CHARACTERISTIC_DESCRIPTION, valueMarkdown: c.text },
    ...lists.map((id) => ({ url: CHARACTERISTIC_DEFINITION, valueCanonical: valueSetUrl(id) })),
  ];
  const label = `${c.type === 'inclusion' ? 'Inclusion' : 'Exclusion'} ${c.item}`;
  return {
    extension,
    code: { coding: [{ system: CRITERION_SYSTEM, code: c.id, display: label }], text: label },
    // R4 needs a value: the characteristic holds (an exclusion's finding is present), `exclude` says which way.
    valueBoolean: true,
    exclude: c.type === 'exclusion',
  };
}

/** The eligibility criteria as a Group (not an actual group of patients: `actual: false`). */
export function eligibilityGroup(trial: CompiledTrial): Group {
  return {
    resourceType: 'Group',
    id: groupId(trial),
    identifier: [{ system: TRIAL_SYSTEM, value: trial.id }],
    type: 'person',
    actual: false,
    name: `Eligibility criteria: ${trial.shortTitle}`,
    characteristic: trial.criteria.map(characteristicOf),
  };
}

/** Base of the read-only FHIR endpoints for the trials (README, "The trials as FHIR"; src/http/routes/research-study.ts). */
export const TRIALS_FHIR_BASE = '/fhir';

export function practitionerRoleId(trial: Pick<CompiledTrial, 'id'>): string {
  return `${trial.id}-study-contact`;
}

/**
 * The site's study contact as a PractitionerRole (issue #19 items 3 and 4: a referral from a card is addressed
 * to it). The name is the practitioner's display: the site file holds no Practitioner of its own.
 */
export function studyContactRole(trial: CompiledTrial, a: TrialAvailability): PractitionerRole | undefined {
  const c = a.contact;
  if (!c) return undefined;
  const telecom = contactOf(a)[0]?.telecom ?? [];
  return {
    resourceType: 'PractitionerRole',
    id: practitionerRoleId(trial),
    active: true,
    practitioner: { display: c.name },
    code: [{ text: c.role }],
    ...(telecom.length > 0 ? { telecom } : {}),
    extension: [{ url: STUDY_EXTENSION, valueReference: { reference: `ResearchStudy/${trial.id}` } }],
  };
}

/** On the study contact's PractitionerRole: the study it is the contact for. */
export const STUDY_EXTENSION = `${CANONICAL_BASE}/StructureDefinition/study-contact-for`;

function contactOf(a: TrialAvailability): ContactDetail[] {
  const c = a.contact;
  if (!c) return [];
  return [
    {
      name: `${c.name} (${c.role})`,
      telecom: [
        ...(c.phone ? [{ system: 'phone' as const, value: c.phone, use: 'work' as const }] : []),
        ...(c.email ? [{ system: 'email' as const, value: c.email, use: 'work' as const }] : []),
      ],
    },
  ];
}

export function researchStudy(trial: CompiledTrial, a: TrialAvailability, siteName: string | undefined): ResearchStudy {
  const phase = PHASES[trial.phase];
  const notes = [`Registry status: ${a.registry.text}.${a.registry.stale ? ' Possibly stale: not verified in the last 12 months.' : ''}`];
  if (a.why) notes.push(a.why);
  return {
    resourceType: 'ResearchStudy',
    id: trial.id,
    extension: [
      { url: SITE_STATUS_EXTENSION, valueCode: a.site.status },
      {
        url: REGISTRY_STATUS_EXTENSION,
        extension: [
          { url: 'status', valueCode: a.registry.status },
          ...(a.registry.asOf ? [{ url: 'asOf', valueString: a.registry.asOf }] : []),
          { url: 'stale', valueBoolean: a.registry.stale },
        ],
      },
    ],
    identifier: [{ system: TRIAL_SYSTEM, value: trial.id }, ...(trial.nctId ? [{ system: NCT_SYSTEM, value: trial.nctId }] : [])],
    title: trial.title,
    status: researchStudyStatus(a),
    ...(phase ? { phase: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/research-study-phase', code: phase }], text: trial.phase } } : { phase: { text: trial.phase } }),
    condition: [{ text: 'Systemic lupus erythematosus' }],
    ...(contactOf(a).length > 0 ? { contact: contactOf(a) } : {}),
    relatedArtifact: [{ type: 'documentation', label: trial.registry.label, url: trial.registry.url }],
    enrollment: [{ reference: `Group/${groupId(trial)}`, display: `Eligibility criteria (${trial.criteria.length} protocol items)` }],
    ...(siteName ? { site: [{ display: siteName }] } : {}),
    note: notes.map((text) => ({ text })),
  };
}
