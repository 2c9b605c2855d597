import type { LeafRuleInput, TrialInput } from './schema.js';
import type { CompiledValueSet } from '../terminology/value-set.js';
import type { ClinicalResource } from '../patient/patient-record.js';

/** A FHIRPath expression compiled once at start-up; true when the resource passes. */
export type ResourcePredicate = (resource: ClinicalResource) => boolean;

export interface CompiledLeaf {
  kind: LeafRuleInput['kind'];
  id: string;
  label: string;
  spec: LeafRuleInput;
  valueSet?: CompiledValueSet;
  broaderValueSet?: CompiledValueSet;
  /** Resources whose code is in this list do not count (the protocol's stated exceptions). */
  exceptValueSet?: CompiledValueSet;
  where?: ResourcePredicate;
  /**
   * Leaves with the same key give the same result for the same record and time (the same kind, code lists,
   * window, thresholds and filter; only id, label and note differ), so one request evaluates each key once
   * however many trials ask the same question. Absent for review leaves, which read no data.
   */
  memoKey?: string;
}

export interface CompiledGroup {
  kind: 'all' | 'any' | 'atLeast' | 'not';
  id: string;
  label: string;
  n: number;
  of: CompiledRule[];
}

export type CompiledRule = CompiledLeaf | CompiledGroup;

export interface CompiledCriterion {
  id: string;
  type: 'inclusion' | 'exclusion';
  item: string;
  text: string;
  interpretation: string;
  rule: CompiledRule;
}

export interface CompiledTrial extends Omit<TrialInput, 'criteria'> {
  criteria: CompiledCriterion[];
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

export interface MappingSet {
  trials: CompiledTrial[];
  valueSets: ReadonlyMap<string, CompiledValueSet>;
  engine: EngineValueSets;
}

export function isGroup(rule: CompiledRule): rule is CompiledGroup {
  return rule.kind === 'all' || rule.kind === 'any' || rule.kind === 'atLeast' || rule.kind === 'not';
}
