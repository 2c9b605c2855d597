import type { CompiledRule, ReadType } from '../engine/compiled.js';
import type { MappingSet } from './compiled.js';
import { isTokenExpressible } from '../terminology/value-set.js';

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

/**
 * The exact codes the trials read in one resource type when a token search can express all of them, else
 * `undefined`: a leaf that reads the type without a code list, or a list with prefixes, WHO ICD-10 codes
 * (national editions extend them) or names, needs the
 * whole type (a search filtered by exact codes would drop what those match). `undefined` too when no leaf
 * reads the type: an empty `code=` is not a valid search.
 */
export function filterableCodes(mappings: MappingSet, resourceType: ReadType): string[] | undefined {
  let expressible = true;
  const walk = (rule: CompiledRule): void => {
    if ('of' in rule) {
      for (const r of rule.of) walk(r);
      return;
    }
    for (const read of rule.reads) {
      if (read.resourceType !== resourceType) continue;
      if (!read.valueSet) expressible = false;
      else if (!isTokenExpressible(read.valueSet)) expressible = false;
    }
  };
  for (const t of mappings.trials) for (const c of t.criteria) walk(c.rule);
  const codes = codesRead(mappings, resourceType);
  return expressible && codes.length > 0 ? codes : undefined;
}
