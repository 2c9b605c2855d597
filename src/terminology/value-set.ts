import type { Coding } from '@medplum/fhirtypes';
import type { CodeEntry, ValueSetInput } from '../mappings/schema.js';

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
  title: string;
  exact: ReadonlyMap<string, ValueSetCode>;
  prefixes: readonly { system: string; prefix: string; display: string }[];
  excluded: readonly { system: string; code: string; prefix: boolean }[];
  /** Lower-case names for the text fallback (medications). */
  names: readonly string[];
  /** Ingredient code -> prednisone-equivalent factor, for steroid dose conversion. */
  steroidFactors: ReadonlyMap<string, number>;
  /** For a union of lists: each list keeps its own exclusions. */
  members?: readonly CompiledValueSet[];
  /**
   * `names` as whole-word patterns, compiled once with the list: the by-name fallback runs for every
   * medication record and every medication criterion, and building a RegExp per test dominated the profile.
   */
  namePatterns: readonly RegExp[];
  /**
   * Whether a patient's `system|code` index key is in the list, without splitting the key or building a
   * Coding (the per-request code index is matched against every list a criterion names).
   */
  keyMatcher?: KeyMatcher;
}

/** A list's prefixes and exclusions as whole `system|prefix` keys, so a key is tested with startsWith. */
interface KeyMatcher {
  prefixes: readonly string[];
  excludedExact: ReadonlySet<string>;
  excludedPrefixes: readonly string[];
  /** Set when a system itself holds "|": such a list is matched the slow, exact way. */
  unsafe: boolean;
}

export function codeKey(system: string, code: string): string {
  return `${system}|${code}`;
}

/** Compiles a code list and any site-local additions into lookup tables. */
export function compileValueSet(input: ValueSetInput, localCodes: readonly CodeEntry[]): CompiledValueSet {
  const exact = new Map<string, ValueSetCode>();
  const prefixes: { system: string; prefix: string; display: string }[] = [];
  const excluded: { system: string; code: string; prefix: boolean }[] = [];
  const steroidFactors = new Map<string, number>();
  for (const entry of [...input.codes, ...localCodes]) {
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
  const names = (input.names ?? []).map((n) => n.toLowerCase());
  return {
    id: input.id,
    title: input.title,
    exact,
    prefixes,
    excluded,
    names,
    steroidFactors,
    namePatterns: names.map(namePattern),
    keyMatcher: keyMatcherOf(prefixes, excluded),
  };
}

function namePattern(name: string): RegExp {
  return new RegExp(`\\b${escapeRegExp(name)}\\b`);
}

function keyMatcherOf(
  prefixes: readonly { system: string; prefix: string }[],
  excluded: readonly { system: string; code: string; prefix: boolean }[],
): KeyMatcher {
  const unsafe = [...prefixes, ...excluded].some((x) => x.system.includes('|'));
  return {
    prefixes: prefixes.map((p) => codeKey(p.system, p.prefix)),
    excludedExact: new Set(excluded.filter((x) => !x.prefix).map((x) => codeKey(x.system, x.code))),
    excludedPrefixes: excluded.filter((x) => x.prefix).map((x) => codeKey(x.system, x.code)),
    unsafe,
  };
}

function isExcluded(vs: CompiledValueSet, system: string, code: string): boolean {
  return vs.excluded.some((x) => x.system === system && (x.prefix ? code.startsWith(x.code) : code === x.code));
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
  const { system, code } = coding;
  if (isExcluded(vs, system, code)) return undefined;
  const hit = vs.exact.get(codeKey(system, code));
  if (hit) return hit;
  const p = vs.prefixes.find((x) => x.system === system && code.startsWith(x.prefix));
  return p ? { system, code, display: coding.display ?? p.display } : undefined;
}

/**
 * Whether the value set matches a `system|code` index key: the same answer as matchCoding on the key's
 * system and code. Keys come from codings with both parts, as buildPatientRecord makes them.
 */
export function matchesKey(vs: CompiledValueSet, key: string): boolean {
  if (vs.members) return vs.members.some((m) => matchesKey(m, key));
  const m = vs.keyMatcher;
  if (!m || m.unsafe) {
    const bar = key.indexOf('|');
    return matchCoding(vs, { system: key.slice(0, bar), code: key.slice(bar + 1) }) !== undefined;
  }
  if (m.excludedExact.has(key)) return false;
  for (const x of m.excludedPrefixes) if (key.startsWith(x)) return false;
  if (vs.exact.has(key)) return true;
  for (const p of m.prefixes) if (key.startsWith(p)) return true;
  return false;
}

/** Whether the value set is plain codes only: then its matching keys are its own `exact` keys. */
export function isExactOnly(vs: CompiledValueSet): boolean {
  if (vs.members) return vs.members.every(isExactOnly);
  return vs.prefixes.length === 0 && vs.excluded.length === 0;
}

/** Every `system|code` key in `keys` that the value set matches (for use with a patient's code index). */
export function matchingKeys(vs: CompiledValueSet, keys: Iterable<string>): string[] {
  const out: string[] = [];
  for (const key of keys) if (matchesKey(vs, key)) out.push(key);
  return out;
}

/** The ingredient name in free text (already in lower case) that this value set lists, for the by-name fallback. */
export function matchName(vs: CompiledValueSet, lower: string | undefined): string | undefined {
  if (!lower || vs.names.length === 0) return undefined;
  for (let i = 0; i < vs.names.length; i++) {
    const name = vs.names[i]!;
    // includes() first: most texts name none of the list, and a whole-word match always contains the name.
    if (lower.includes(name) && vs.namePatterns[i]!.test(lower)) return name;
  }
  return undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Several code lists read as one ("cyclophosphamide or a biologic"); compiled once at start-up. */
export function unionValueSets(sets: readonly CompiledValueSet[]): CompiledValueSet {
  const names = [...new Set(sets.flatMap((s) => s.names))];
  return {
    id: sets.map((s) => s.id).join('+'),
    title: sets.map((s) => s.title).join(' or '),
    exact: new Map(sets.flatMap((s) => [...s.exact])),
    prefixes: sets.flatMap((s) => s.prefixes),
    excluded: sets.flatMap((s) => s.excluded),
    names,
    steroidFactors: new Map(sets.flatMap((s) => [...s.steroidFactors])),
    members: sets,
    namePatterns: names.map(namePattern),
  };
}
