import type { PartResult } from './types.js';

function hasMetLeaf(p: PartResult): boolean {
  return p.parts ? p.parts.some(hasMetLeaf) : p.outcome === 'met';
}

/**
 * The leaves the outcome still waits on. An alternative that is already met leaves nothing open beside it
 * (platelets >= 75 makes the "investigator discretion" route moot); where alternatives wait on review and one
 * has its automatic parts met, only that one's review items are open (treated as required, so "intolerant
 * to standard treatments" need not be checked too).
 */
function openLeaves(p: PartResult, out: PartResult[]): void {
  if (!p.parts) {
    out.push(p);
    return;
  }
  if (p.kind === 'any' || p.kind === 'atLeast') {
    if (p.outcome === 'met') return;
    if (p.outcome === 'review' && p.kind === 'any') {
      const backed = p.parts.find((x) => x.outcome === 'review' && x.parts !== undefined && hasMetLeaf(x));
      if (backed) return openLeaves(backed, out);
    }
  }
  for (const x of p.parts) openLeaves(x, out);
}

/** A criterion's leaves still open (unknown or for review), in the trace's order: what the card lists. */
export function openParts(parts: readonly PartResult[]): PartResult[] {
  const out: PartResult[] = [];
  for (const p of parts) openLeaves(p, out);
  return out.filter((p) => p.outcome === 'unknown' || p.outcome === 'review');
}
