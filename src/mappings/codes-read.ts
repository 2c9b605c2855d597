import type { CompiledRule, ReadType } from '../engine/compiled.js';
import type { MappingSet } from './compiled.js';
import type { CompiledValueSet } from '../terminology/value-set.js';
import { CODE_SYSTEMS, ICD10_WHO, PROJECT_CODES, isIcd10NationalEdition } from '../terminology/code-systems.js';

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
 * A search's code filter (issue #21 item 4): the tokens a `code=` (or `vaccine-code=`) search sends, and whether
 * the filter is whole by construction or needs the proof the service's own search runs beside it.
 */
export interface SearchFilter {
  /**
   * Every exact code of the lists read in the type, bare (FHIR R4 §3.1.1.4.9 token: `[code]` with no `|`
   * matches the code in any system, so an OID, a superseded URI or a SNOMED CT edition URI is found too; a
   * superset of what the lists match, never less), then a `[system]|` token for each published name of a
   * system whose lists hold prefixes ("T86.1 and below") or WHO ICD-10 codes (a national edition's extension
   * codes stand under them), which exact codes cannot express.
   */
  tokens: string[];
  /**
   * `[system]|` tokens find a system only under the names src/terminology/code-systems.ts publishes; the engine
   * also reads trivial variants (https, `www.`, a trailing slash, white space). Such a filter is used only by
   * the service's own search, beside counts that show every resource of the type has a coding in a published
   * name of a list system (src/data/fhir-server-source.ts); a prefetch template cannot carry that proof.
   */
  systemWide: boolean;
}

/** A token's value with FHIR search's special characters escaped (R4 §3.1.1.5.7: `\,`, `\|`, `\$`, `\\`). */
export function escapeToken(value: string): string {
  return value.replace(/[\\,|$]/g, (c) => `\\${c}`);
}

/** Every name a system is published under (canonical, superseded URIs, `urn:oid:` and bare OID). */
export function systemNames(system: string): string[] {
  const row = CODE_SYSTEMS.find((r) => r.canonical === system);
  if (!row) return [system];
  return [row.canonical, ...row.uris, ...row.oids.flatMap((o) => [`urn:oid:${o}`, o])];
}

/** Every published name of every system the lists hold codes of, national ICD-10 editions included. */
export function listSystemNames(): string[] {
  return CODE_SYSTEMS.flatMap((r) => systemNames(r.canonical)).concat(PROJECT_CODES);
}

/**
 * The code filter for searches of one resource type, or `undefined` when none loses nothing: a leaf reads the
 * type without a code list, a list is matched by name (text cannot be searched by code), a list has SNOMED CT
 * hierarchy rules (a site's terminology server may place descendants the expansion does not hold), or no
 * leaf reads the type. `extraCodes`: codes outside the lists that the site's ConceptMap places in them
 * (src/mappings/load-mappings.ts localPlacements), so a local code the map places is still fetched.
 */
export function searchFilter(mappings: MappingSet, resourceType: ReadType, extraCodes: Iterable<string> = []): SearchFilter | undefined {
  const lists = new Map<string, CompiledValueSet>();
  let filterable = true;
  const walk = (rule: CompiledRule): void => {
    if ('of' in rule) {
      for (const r of rule.of) walk(r);
      return;
    }
    for (const read of rule.reads) {
      if (read.resourceType !== resourceType) continue;
      if (!read.valueSet) filterable = false;
      else for (const m of read.valueSet.members ?? [read.valueSet]) lists.set(m.id, m);
    }
  };
  for (const t of mappings.trials) for (const c of t.criteria) walk(c.rule);
  if (!filterable || lists.size === 0) return undefined;
  const codes = new Set<string>();
  const wholeSystems = new Set<string>();
  for (const vs of lists.values()) {
    if (vs.names.length > 0 || (vs.hierarchy?.length ?? 0) > 0) return undefined;
    for (const e of vs.exact.values()) {
      codes.add(e.code);
      if (e.system === ICD10_WHO) wholeSystems.add(ICD10_WHO);
    }
    for (const p of vs.prefixes) wholeSystems.add(p.system);
  }
  for (const key of extraCodes) codes.add(key.slice(key.indexOf('|') + 1));
  // A WHO code is matched in every national edition too (src/terminology/icd10-editions.ts).
  if (wholeSystems.has(ICD10_WHO)) for (const r of CODE_SYSTEMS) if (isIcd10NationalEdition(r.canonical)) wholeSystems.add(r.canonical);
  const tokens = [...codes].sort().map(escapeToken);
  for (const system of [...wholeSystems].sort()) for (const name of systemNames(system)) tokens.push(`${escapeToken(name)}|`);
  return { tokens, systemWide: wholeSystems.size > 0 };
}

/**
 * The tokens a Bulk Data export's `_typeFilter` may use for one type (issue #19 item 1) without losing anything a
 * criterion reads: the search filter's tokens when it is whole by construction (no system-wide tokens, which
 * need the counts the hook's own search runs beside them), else `undefined` (export the type whole). The same
 * tokens the hook's prefetch template carries (src/cds/service-definition.ts).
 */
export function filterableCodes(mappings: MappingSet, resourceType: ReadType): string[] | undefined {
  const filter = searchFilter(mappings, resourceType, mappings.terminology.localPlacements.keys());
  return filter && !filter.systemWide ? filter.tokens : undefined;
}
