import type { CompiledLeaf } from './compiled.js';
import type { Evidence, Outcome, PartResult } from './types.js';

/** Builds a leaf's result; every leaf result goes through here so the trace has one shape. */
export function part(
  leaf: Pick<CompiledLeaf, 'id' | 'label' | 'kind'>,
  outcome: Outcome,
  reason: string,
  evidence: Evidence[] = [],
  missing?: string[],
): PartResult {
  const result: PartResult = { id: leaf.id, label: leaf.label, kind: leaf.kind, outcome, reason, evidence };
  if (missing && missing.length > 0 && (outcome === 'unknown' || outcome === 'review')) result.missing = missing;
  return result;
}

/** The outcome when no matching record was found, as the mapping says absence should be read. */
export function noDataOutcome(leaf: { spec: { ifNoData?: Outcome | undefined } }, fallback: Outcome): Outcome {
  return leaf.spec.ifNoData ?? fallback;
}

/** The outcome when a matching record was found: met, or shown for review when the mapping asks. */
export function foundOutcome(leaf: { spec: { onMatch?: 'met' | 'review' | undefined } }): Outcome {
  return leaf.spec.onMatch === 'review' ? 'review' : 'met';
}
