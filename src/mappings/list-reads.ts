import type { CodedLeaf, CompiledRule, CompiledTrial } from '../engine/compiled.js';
import type { CompiledValueSet } from '../terminology/value-set.js';

/**
 * How the criteria read each code list, for placing codes from outside the lists' own codes (a site's
 * ConceptMap, its terminology server): which lists a criterion reads, which lists only ever count for the
 * patient, and the exceptions read beside each list.
 */
export interface ListReads {
  /** Every list a criterion reads (its code list, a union's members, its exceptions list). */
  read: ReadonlyMap<string, CompiledValueSet>;
  /**
   * Lists whose presence in the record can only move a criterion toward eligible: read only by condition,
   * procedure or immunization parts (more matching records never make them less met) in an inclusion, or as
   * the exceptions list of an exclusion's part, counting `not` groups. A code placed in one of these can
   * never hide a trial (clinical safety rule 2).
   */
  favourableOnly: ReadonlySet<string>;
  /** Per list, the exceptions lists of the parts that read it: a code placed in a list must not be in these. */
  exceptions: ReadonlyMap<string, readonly CompiledValueSet[]>;
  /** Per list, the resource types it is read in (a diagnosis list: Condition): only their codes can matter. */
  types: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Kinds where one more matching record can only make the part more met, never less. */
const PRESENCE_MONOTONE = new Set(['condition', 'procedure', 'immunization']);

export function analyseListReads(trials: readonly CompiledTrial[]): ListReads {
  const read = new Map<string, CompiledValueSet>();
  /** +1 counts for eligibility, -1 against, 0 either way (a value, a latest result, an expression). */
  const polarities = new Map<string, Set<number>>();
  const exceptions = new Map<string, CompiledValueSet[]>();
  const types = new Map<string, Set<string>>();
  const note = (vs: CompiledValueSet, polarity: number, resourceTypes: readonly string[]): void => {
    for (const m of vs.members ?? [vs]) {
      read.set(m.id, m);
      let t = types.get(m.id);
      if (!t) types.set(m.id, (t = new Set()));
      for (const rt of resourceTypes) t.add(rt);
      let p = polarities.get(m.id);
      if (!p) polarities.set(m.id, (p = new Set()));
      p.add(polarity);
    }
  };
  const walk = (rule: CompiledRule, polarity: number): void => {
    if ('of' in rule) {
      for (const r of rule.of) walk(r, rule.kind === 'not' ? -polarity : polarity);
      return;
    }
    const monotone = PRESENCE_MONOTONE.has(rule.kind);
    for (const r of rule.reads) if (r.valueSet) note(r.valueSet, monotone ? polarity : 0, [r.resourceType]);
    const except = (rule as Partial<CodedLeaf>).exceptValueSet;
    const listed = (rule as Partial<CodedLeaf>).valueSet;
    if (except && listed) {
      note(except, monotone ? -polarity : 0, rule.reads.map((r) => r.resourceType));
      for (const m of listed.members ?? [listed]) {
        const list = exceptions.get(m.id) ?? [];
        if (!list.includes(except)) list.push(except);
        exceptions.set(m.id, list);
      }
    }
  };
  for (const t of trials) for (const c of t.criteria) walk(c.rule, c.type === 'inclusion' ? 1 : -1);
  const favourableOnly = new Set([...polarities].filter(([, p]) => p.size === 1 && p.has(1)).map(([id]) => id));
  return { read, favourableOnly, exceptions, types };
}
