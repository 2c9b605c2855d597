import type { CompiledRule, ReadType } from '../engine/compiled.js';
import type { MappingSet } from './compiled.js';

function collect(rule: CompiledRule, resourceType: ReadType, out: Set<string>): void {
  if ('of' in rule) {
    for (const r of rule.of) collect(r, resourceType, out);
    return;
  }
  for (const read of rule.reads) {
    if (read.resourceType !== resourceType || !read.valueSet) continue;
    for (const set of read.valueSet.members ?? [read.valueSet]) for (const key of set.exact.keys()) out.add(key);
  }
}

/**
 * Every exact `system|code` the trials read in one resource type, from each leaf's `reads` (the kinds say
 * what they need; nothing here lists kinds), sorted: discovery's prefetch filters are built from it.
 */
export function codesRead(mappings: MappingSet, resourceType: ReadType): string[] {
  const out = new Set<string>();
  for (const t of mappings.trials) for (const c of t.criteria) collect(c.rule, resourceType, out);
  return [...out].sort();
}
