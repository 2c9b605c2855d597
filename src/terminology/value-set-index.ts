import { ICD10_WHO } from './code-systems.js';
import { whoCodes } from './icd10-editions.js';
import { codeKey, type CompiledValueSet } from './value-set.js';

/**
 * Every loaded code list inverted, `system|code` -> the ids of the lists that hold it (issue 21 item 5,
 * issue 17 item 5): a record's code is placed once per request by a few map lookups, and each criterion's
 * list is then a lookup, instead of every list testing every code against its prefixes.
 */
export interface ValueSetIndex {
  exact: ReadonlyMap<string, readonly string[]>;
  /** `system|prefix` of a prefix rule (ICD-10 "M32.1 and below") -> list ids. */
  prefixes: ReadonlyMap<string, readonly string[]>;
  excludedExact: ReadonlyMap<string, readonly string[]>;
  excludedPrefixes: ReadonlyMap<string, readonly string[]>;
  /** Per system, the distinct lengths of its prefix rules (included or excluded): the only slices to probe. */
  prefixLengths: ReadonlyMap<string, readonly number[]>;
  /**
   * listsOfKey's answers so far: the index never changes once built, and records carry the same codes hook
   * after hook, so a code is placed once per process rather than once per request. Bounded (cleared when full).
   */
  placed: Map<string, ReadonlySet<string>>;
}

/** Codes whose lists are kept (ValueSetIndex.placed); a record of more distinct codes still places each one. */
const MAX_PLACED = 8192;

function add(map: Map<string, string[]>, key: string, id: string): void {
  const ids = map.get(key);
  if (!ids) map.set(key, [id]);
  else if (!ids.includes(id)) ids.push(id);
}

/** Builds the index of the given lists (each list's own entries, local codes and expansion included). */
export function buildValueSetIndex(sets: Iterable<CompiledValueSet>): ValueSetIndex {
  const exact = new Map<string, string[]>();
  const prefixes = new Map<string, string[]>();
  const excludedExact = new Map<string, string[]>();
  const excludedPrefixes = new Map<string, string[]>();
  const lengths = new Map<string, Set<number>>();
  const addLength = (system: string, n: number): void => {
    let s = lengths.get(system);
    if (!s) lengths.set(system, (s = new Set()));
    s.add(n);
  };
  for (const vs of sets) {
    for (const key of vs.exact.keys()) add(exact, key, vs.id);
    for (const p of vs.prefixes) {
      add(prefixes, codeKey(p.system, p.prefix), vs.id);
      addLength(p.system, p.prefix.length);
    }
    for (const x of vs.excluded) {
      add(x.prefix ? excludedPrefixes : excludedExact, codeKey(x.system, x.code), vs.id);
      if (x.prefix) addLength(x.system, x.code.length);
    }
  }
  const prefixLengths = new Map([...lengths].map(([system, s]) => [system, [...s].sort((a, b) => a - b)] as const));
  return { exact, prefixes, excludedExact, excludedPrefixes, prefixLengths, placed: new Map() };
}

const NONE: ReadonlySet<string> = new Set();

/** Adds (or removes) the ids every prefix rule of `system` that `code` starts with names. */
function probePrefixes(index: ValueSetIndex, map: ReadonlyMap<string, readonly string[]>, system: string, code: string, apply: (ids: readonly string[]) => void): void {
  const lengths = index.prefixLengths.get(system);
  if (!lengths) return;
  for (const n of lengths) {
    if (n > code.length) break;
    const ids = map.get(codeKey(system, code.slice(0, n)));
    if (ids) apply(ids);
  }
}

/**
 * The ids of the lists a record's `system|code` key is in: exact entries, prefix rules and, for WHO ICD-10
 * and its national editions, the WHO parent's entries (src/terminology/icd10-editions.ts); then each list's
 * own exclusions remove it, tested on the full code and on the WHO parent. The same answer as matchCoding
 * against each list (a test holds them together).
 */
export function listsOfKey(index: ValueSetIndex, key: string): ReadonlySet<string> {
  const kept = index.placed.get(key);
  if (kept) return kept;
  const lists = placeKey(index, key);
  if (index.placed.size >= MAX_PLACED) index.placed.clear();
  index.placed.set(key, lists);
  return lists;
}

function placeKey(index: ValueSetIndex, key: string): ReadonlySet<string> {
  let ids: Set<string> | undefined;
  const put = (found: readonly string[] | undefined): void => {
    if (!found) return;
    ids ??= new Set();
    for (const id of found) ids.add(id);
  };
  put(index.exact.get(key));
  const bar = key.indexOf('|');
  const system = key.slice(0, bar);
  const code = key.slice(bar + 1);
  probePrefixes(index, index.prefixes, system, code, put);
  const who = whoCodes(system, code);
  for (const c of who) if (system !== ICD10_WHO || c !== code) put(index.exact.get(codeKey(ICD10_WHO, c)));
  if (who.length > 0 && system !== ICD10_WHO) probePrefixes(index, index.prefixes, ICD10_WHO, code, put);
  if (!ids) return NONE;
  const found = ids;
  const drop = (out: readonly string[] | undefined): void => {
    if (out) for (const id of out) found.delete(id);
  };
  drop(index.excludedExact.get(key));
  probePrefixes(index, index.excludedPrefixes, system, code, drop);
  for (const c of who) if (system !== ICD10_WHO || c !== code) drop(index.excludedExact.get(codeKey(ICD10_WHO, c)));
  if (who.length > 0 && system !== ICD10_WHO) probePrefixes(index, index.excludedPrefixes, ICD10_WHO, code, drop);
  return found;
}

/** Compiles the shared index over the given lists and hands it to each of them (the loader's last step). */
export function indexValueSets(sets: ReadonlyMap<string, CompiledValueSet>): ValueSetIndex {
  const index = buildValueSetIndex(sets.values());
  for (const vs of sets.values()) vs.index = index;
  return index;
}
