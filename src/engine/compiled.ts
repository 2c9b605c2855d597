import type { CompiledValueSet } from '../terminology/value-set.js';
import type { RegistryStatusInput } from '../trials/registry-status.js';
import type { ClinicalResource } from '../patient/patient-record.js';
import type { EvalContext } from './context.js';
import type { PartResult } from './types.js';
import type { DecisionPlan } from './decision-order.js';

/**
 * The compiled rule tree the evaluator runs. The engine owns these types; src/mappings/ (the loader) builds
 * them from the mapping files through the rule kinds (src/engine/rules/registry.ts).
 */

/** A FHIRPath expression compiled once at start-up; true when the resource passes. */
export type ResourcePredicate = (resource: ClinicalResource) => boolean;

/** The resource types the service reads: the Patient and the clinical types (src/patient/patient-record.ts). */
export type ReadType = 'Patient' | ClinicalResource['resourceType'];

/**
 * What data a leaf reads: a resource type and, when the leaf matches exact codes, the code list. Discovery's
 * prefetch filters (src/mappings/codes-read.ts) are derived from these, so a kind's needs are said once.
 */
export interface DataRead {
  resourceType: ReadType;
  valueSet?: CompiledValueSet;
  /**
   * 'confirmation': read only to confirm another result (an HBsAg neutralisation test): asked of the EHR,
   * but no test that settles the part on its own, so cards do not offer it (src/mappings/orderables.ts).
   */
  role?: 'confirmation';
}

/**
 * A leaf compiled to a closure: `evaluate` already knows its kind's spec, so the evaluator needs no switch.
 * K and S type the leaf by its kind (each kind's file names its own leaf type).
 */
export interface CompiledLeaf<K extends string = string, S = unknown> {
  kind: K;
  id: string;
  label: string;
  spec: S;
  /**
   * Leaves with the same key give the same result for the same record and time, so one request evaluates
   * each key once however many trials ask the same question. Each kind writes its key out from every parsed
   * field that changes the answer. Absent for leaves that read no data (review).
   */
  memoKey?: string;
  reads: readonly DataRead[];
  /**
   * For a result leaf: the outcome a positive of its test gives it (`met`, or `not-met` for a part that
   * expects a negative test). Its facts count against the patient where that outcome does (src/engine/facts.ts).
   */
  factOutcome?: 'met' | 'not-met';
  evaluate(ctx: EvalContext): PartResult;
}

/** A leaf that matches the patient's resources against a code list, its exceptions and a FHIRPath filter. */
export interface CodedLeaf<K extends string = string, S = unknown> extends CompiledLeaf<K, S> {
  valueSet: CompiledValueSet;
  /** Resources whose code is in this list do not count (the protocol's stated exceptions). */
  exceptValueSet?: CompiledValueSet;
  where?: ResourcePredicate;
}

export interface CompiledGroup {
  kind: 'all' | 'any' | 'atLeast' | 'not';
  id: string;
  label: string;
  n: number;
  of: CompiledRule[];
}

export type CompiledRule = CompiledLeaf | CompiledGroup;

/** The event a protocol item is read against: screening is today; the others are still ahead (issue 18 item 3). */
export type Anchor = 'screening' | 'consent' | 'enrolment' | 'first-dose';

/** The duration fields a leaf may carry: a look-back, a "stable for N" and a course length. */
export const DURATION_FIELDS = ['window', 'startedAtLeast', 'minCourse'] as const;
export type DurationField = (typeof DURATION_FIELDS)[number];

/** One part's window and where it comes from: the protocol's words, or a project default and why. */
export interface PartWindow {
  field: DurationField;
  /** "P30D" */
  duration: string;
  anchor: Anchor;
  /** The protocol's words for this window, found in the item's text. */
  quote?: string;
  /** Why the project chose the window the protocol does not give. */
  projectDefault?: string;
}

/**
 * How a part's window may decide (src/engine/window-guard.ts): the part's outcome that would hide the trial
 * (`met` inside an exclusion, `not-met` inside an inclusion, swapped under `not`), its windows, and the part
 * compiled without its window or "stable for" duration (`twin`), to tell what the record shows regardless.
 */
export interface PartGuard {
  hides: 'met' | 'not-met';
  windows: readonly PartWindow[];
  twin?: CompiledLeaf;
}

export interface CompiledCriterion {
  id: string;
  type: 'inclusion' | 'exclusion';
  item: string;
  text: string;
  interpretation: string;
  anchor: Anchor;
  rule: CompiledRule;
  /** Per part id, for parts with a window. */
  guards: ReadonlyMap<string, PartGuard>;
}

export interface CompiledTrial {
  id: string;
  nctId?: string | undefined;
  title: string;
  shortTitle: string;
  phase: string;
  studyType: 'interventional' | 'observational';
  /** The registry status with its as-of date (issue #19 item 3); whether the site recruits is src/trials/. */
  registryStatus: RegistryStatusInput;
  registry: { url: string; label: string };
  protocolSource: string;
  criteria: CompiledCriterion[];
  /**
   * How detail 'decision' walks the criteria and their groups (src/engine/decision-order.ts), worked out once
   * at load; worked out per call when absent (a trial compiled outside the loader).
   */
  decisionPlan?: DecisionPlan;
  /** The file it was loaded from, for messages. */
  file: string;
}

/** Code lists the evaluator itself needs, whatever the trials say. */
export interface EngineValueSets {
  bodyWeight: CompiledValueSet;
  resultPositive: CompiledValueSet;
  resultNegative: CompiledValueSet;
  /** Indeterminate, equivocal, invalid and presumptive answers: read as not decided. */
  resultIndeterminate: CompiledValueSet;
}
