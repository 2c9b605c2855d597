import type { Coding } from '@medplum/fhirtypes';
import { valueSetUrl } from './canonical.js';
import { ICD10_WHO, canonicalSystem } from './code-systems.js';
import { whoCodes } from './icd10-editions.js';
import type { CodeEntry, ValueSetInput } from './value-set-input.js';
import type { ValueSetIndex } from './value-set-index.js';

/** One code of a compiled value set, with what the evaluator needs to know about it. */
export interface ValueSetCode {
  system: string;
  code: string;
  display: string;
  /** RxNorm ingredient of a product code, or the code itself for an ingredient. */
  ingredient?: string;
  strength?: { value: number; unit: string };
  prednisoneEquivalentFactor?: number;
}

/** A code list compiled for lookup: exact `system|code` keys plus ICD-10-CM style prefixes. */
export interface CompiledValueSet {
  id: string;
  /** The list's canonical URL as an R4 ValueSet (src/terminology/canonical.ts). */
  url: string;
  title: string;
  /**
   * The list's hierarchy rules (SNOMED CT is-a / descendent-of), included ones only: the committed expansion
   * holds their descendants as far as public tables give them, and a site's terminology server may be asked
   * about a code the expansion does not hold.
   */
  hierarchy?: readonly { system: string; code: string; op: 'is-a' | 'descendent-of' }[];
  /** The list's excluded hierarchy rules: a terminology server's placement must not be below these. */
  excludedHierarchy?: readonly { system: string; code: string; op: 'is-a' | 'descendent-of' }[];
  exact: ReadonlyMap<string, ValueSetCode>;
  prefixes: readonly { system: string; prefix: string; display: string }[];
  excluded: readonly { system: string; code: string; prefix: boolean }[];
  /** Lower-case names for the text fallback (medications). */
  names: readonly string[];
  /** Ingredient code -> prednisone-equivalent factor, for steroid dose conversion. */
  steroidFactors: ReadonlyMap<string, number>;
  /**
   * Lower-case name (generic, brand, synonym) -> the ingredient it stands for: the RxNorm IN code when the
   * list has the ingredient, else the generic name. One ingredient is then one agent however it is recorded.
   */
  nameIngredients: ReadonlyMap<string, string>;
  /** Ingredient key (IN code or generic name) -> its name, for the evidence ("mycophenolate mofetil"). */
  ingredientNames: ReadonlyMap<string, string>;
  /** For a union of lists: each list keeps its own exclusions. */
  members?: readonly CompiledValueSet[];
  /**
   * `names` as whole-word patterns, compiled once with the list: the by-name fallback runs for every
   * medication record and every medication criterion, and building a RegExp per test dominated the profile.
   */
  namePatterns: readonly RegExp[];
  /**
   * Every name of the list in one pattern, without word boundaries (issue #21 item 5: "drug names are compiled
   * into one matcher per list"): one pass over a text tells that it holds none of the names, which is the
   * answer for most texts, before the names are tried one by one for the longest whole-word match. Absent
   * for a list without names.
   */
  anyName?: RegExp;
  /**
   * Every loaded list inverted (`system|code` -> list ids), shared by the lists one loader compiled
   * (compileValueSets): a record's codes are placed once per request and each list is then a map lookup.
   */
  index?: ValueSetIndex;
}

export function codeKey(system: string, code: string): string {
  return `${system}|${code}`;
}

/** A concept of a committed expansion (fhir-mappings/expansions/): the descendants hierarchy rules bring in. */
export interface ExpandedConcept {
  system: string;
  code: string;
  display: string;
}

/**
 * Compiles a code list, its site-local additions and the concepts its committed expansion adds (descendants
 * of its hierarchy rules) into lookup tables. Explicit entries always come from the authoring file, so a
 * stale expansion can miss a descendant but never drop a listed code.
 */
export function compileValueSet(input: ValueSetInput, localCodes: readonly CodeEntry[], expanded: readonly ExpandedConcept[] = []): CompiledValueSet {
  const exact = new Map<string, ValueSetCode>();
  const prefixes: { system: string; prefix: string; display: string }[] = [];
  const excluded: { system: string; code: string; prefix: boolean }[] = [];
  const steroidFactors = new Map<string, number>();
  // A site's local codes may name a system by its OID: the list keys use the canonical URI, as the record's do.
  for (const raw of [...input.codes, ...localCodes]) {
    const entry = { ...raw, system: canonicalSystem(raw.system) };
    if (entry.exclude) {
      excluded.push({ system: entry.system, code: entry.code, prefix: entry.prefix ?? false });
    } else if (entry.prefix) {
      prefixes.push({ system: entry.system, prefix: entry.code, display: entry.display });
    } else {
      const code: ValueSetCode = { system: entry.system, code: entry.code, display: entry.display };
      if (entry.ingredient) code.ingredient = entry.ingredient;
      else if (entry.tty === 'IN' || entry.tty === 'MIN' || entry.tty === 'PIN') code.ingredient = entry.code;
      if (entry.strength) code.strength = entry.strength;
      if (entry.prednisoneEquivalentFactor) {
        code.prednisoneEquivalentFactor = entry.prednisoneEquivalentFactor;
        steroidFactors.set(entry.code, entry.prednisoneEquivalentFactor);
      }
      exact.set(codeKey(entry.system, entry.code), code);
    }
  }
  for (const c of expanded) {
    const key = codeKey(c.system, c.code);
    if (!exact.has(key)) exact.set(key, { system: c.system, code: c.code, display: c.display });
  }
  const hierarchy = (input.hierarchy ?? []).filter((h) => !h.exclude).map((h) => ({ system: h.system, code: h.code, op: h.op }));
  const excludedHierarchy = (input.hierarchy ?? []).filter((h) => h.exclude).map((h) => ({ system: h.system, code: h.code, op: h.op }));
  const synonyms = Object.entries(input.synonyms ?? {}).map(([n, ing]) => [n.toLowerCase(), ing.toLowerCase()] as const);
  const names = [...new Set([...(input.names ?? []).map((n) => n.toLowerCase()), ...synonyms.map(([n]) => n)])];
  const { nameIngredients, ingredientNames } = ingredientTables(exact, names, synonyms);
  return {
    id: input.id,
    url: valueSetUrl(input.id),
    title: input.title,
    ...(hierarchy.length > 0 ? { hierarchy } : {}),
    ...(excludedHierarchy.length > 0 ? { excludedHierarchy } : {}),
    exact,
    prefixes,
    excluded,
    names,
    steroidFactors,
    nameIngredients,
    ingredientNames,
    namePatterns: names.map(namePattern),
    ...anyNameOf(names),
  };
}

/** The list's names as one alternation (longest first, so a longer name is tried first where two begin). */
function anyNameOf(names: readonly string[]): { anyName?: RegExp } {
  if (names.length === 0) return {};
  return { anyName: new RegExp([...names].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|')) };
}

/**
 * Names to ingredients. An ingredient entry (IN) names itself by its display; a synonym names the ingredient
 * it is mapped to (an IN code, or a generic name that is itself resolved); any other name stands for itself.
 */
function ingredientTables(
  exact: ReadonlyMap<string, ValueSetCode>,
  names: readonly string[],
  synonyms: readonly (readonly [string, string])[],
): { nameIngredients: Map<string, string>; ingredientNames: Map<string, string> } {
  const ingredientNames = new Map<string, string>();
  const byGeneric = new Map<string, string>();
  for (const e of exact.values()) {
    if (e.ingredient === e.code) {
      const generic = e.display.toLowerCase();
      ingredientNames.set(e.code, generic);
      byGeneric.set(generic, e.code);
    }
  }
  const resolve = (target: string): string => (ingredientNames.has(target) ? target : (byGeneric.get(target) ?? target));
  const nameIngredients = new Map<string, string>();
  for (const n of names) nameIngredients.set(n, byGeneric.get(n) ?? n);
  for (const [n, target] of synonyms) nameIngredients.set(n, resolve(target));
  for (const key of nameIngredients.values()) if (!ingredientNames.has(key)) ingredientNames.set(key, key);
  return { nameIngredients, ingredientNames };
}

/**
 * A name as a whole word. Word boundaries are asked for only where the name begins or ends with a Latin
 * letter or digit: Chinese names (泰它西普) are written without spaces, and \b never matches next to them.
 */
function namePattern(name: string): RegExp {
  const head = /^\w/.test(name) ? '\\b' : '';
  const tail = /\w$/.test(name) ? '\\b' : '';
  return new RegExp(`${head}${escapeRegExp(name)}${tail}`);
}

/** The ingredient a matched record stands for: by the entry its code matched, else by the name it matched. */
export function ingredientKey(vs: CompiledValueSet, entry: ValueSetCode | undefined, name: string | undefined): string | undefined {
  if (entry?.ingredient) return entry.ingredient;
  if (name) return vs.nameIngredients.get(name) ?? name;
  return undefined;
}

function isExcluded(vs: CompiledValueSet, system: string, code: string): boolean {
  return vs.excluded.some((x) => x.system === system && (x.prefix ? code.startsWith(x.code) : code === x.code));
}

/**
 * A WHO ICD-10 or national-edition code against the list's WHO entries (src/terminology/icd10-editions.ts):
 * excluded when an exclusion holds the full code or its WHO parent, else matched by the parent's exact entry
 * or a WHO prefix. `who` is whoCodes(system, code), the code first.
 */
function matchWho(vs: CompiledValueSet, system: string, who: readonly string[], display: string | undefined): ValueSetCode | undefined {
  const code = who[0]!;
  for (const c of who) {
    const hit = vs.exact.get(codeKey(ICD10_WHO, c));
    if (hit) return { system, code, display: display ?? hit.display };
  }
  const p = vs.prefixes.find((x) => x.system === ICD10_WHO && code.startsWith(x.prefix));
  return p ? { system, code, display: display ?? p.display } : undefined;
}

/** The value-set entry a coding matches, if any. */
export function matchCoding(vs: CompiledValueSet, coding: Coding): ValueSetCode | undefined {
  if (!coding.system || !coding.code) return undefined;
  if (vs.members) {
    for (const m of vs.members) {
      const hit = matchCoding(m, coding);
      if (hit) return hit;
    }
    return undefined;
  }
  // The record's coding may name its system by OID or edition URI (issue #17 item 2): read it as the lists do.
  const system = canonicalSystem(coding.system);
  const code = coding.code;
  const who = whoCodes(system, code);
  if (isExcluded(vs, system, code) || who.some((c) => isExcluded(vs, ICD10_WHO, c))) return undefined;
  const hit = vs.exact.get(codeKey(system, code));
  if (hit) return hit;
  const p = vs.prefixes.find((x) => x.system === system && code.startsWith(x.prefix));
  if (p) return { system, code, display: coding.display ?? p.display };
  return who.length > 0 ? matchWho(vs, system, who, coding.display) : undefined;
}

/**
 * Whether the value set matches a `system|code` index key: matchCoding on the key's system and code. Keys
 * come from codings with both parts, as buildPatientRecord makes them; the loaded lists are matched through
 * their shared index instead (src/terminology/value-set-index.ts), this is for a list compiled on its own.
 */
export function matchesKey(vs: CompiledValueSet, key: string): boolean {
  const bar = key.indexOf('|');
  return matchCoding(vs, { system: key.slice(0, bar), code: key.slice(bar + 1) }) !== undefined;
}

/** Every `system|code` key in `keys` that the value set matches (for use with a patient's code index). */
export function matchingKeys(vs: CompiledValueSet, keys: Iterable<string>): string[] {
  const out: string[] = [];
  for (const key of keys) if (vs.members ? vs.members.some((m) => matchesKey(m, key)) : matchesKey(vs, key)) out.push(key);
  return out;
}

/** The ingredient name in free text (already in lower case) that this value set lists, for the by-name fallback. */
export function matchName(vs: CompiledValueSet, lower: string | undefined): string | undefined {
  if (!lower || vs.names.length === 0) return undefined;
  // A whole-word match contains the name: a text holding none of them (most texts) is done in one pass.
  if (vs.anyName && !vs.anyName.test(lower)) return undefined;
  // The longest name that matches: "rituxan hycela" rather than "rituxan", "mycophenolic acid" rather
  // than "mycophenolate"... each maps to its own ingredient.
  let best: string | undefined;
  for (let i = 0; i < vs.names.length; i++) {
    const name = vs.names[i]!;
    // includes() first: most texts name none of the list, and a whole-word match always contains the name.
    if (lower.includes(name) && (best === undefined || name.length > best.length) && vs.namePatterns[i]!.test(lower)) best = name;
  }
  return best;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Several code lists read as one ("cyclophosphamide or a biologic"); compiled once at start-up. */
export function unionValueSets(sets: readonly CompiledValueSet[]): CompiledValueSet {
  const names = [...new Set(sets.flatMap((s) => s.names))];
  return {
    id: sets.map((s) => s.id).join('+'),
    url: sets.map((s) => s.url).join(' or '),
    title: sets.map((s) => s.title).join(' or '),
    exact: new Map(sets.flatMap((s) => [...s.exact])),
    prefixes: sets.flatMap((s) => s.prefixes),
    excluded: sets.flatMap((s) => s.excluded),
    names,
    steroidFactors: new Map(sets.flatMap((s) => [...s.steroidFactors])),
    nameIngredients: new Map(sets.flatMap((s) => [...s.nameIngredients])),
    ingredientNames: new Map(sets.flatMap((s) => [...s.ingredientNames])),
    members: sets,
    namePatterns: names.map(namePattern),
    ...anyNameOf(names),
    ...(sets[0]?.index ? { index: sets[0].index } : {}),
  };
}
