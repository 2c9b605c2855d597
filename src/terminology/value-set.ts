import type { Coding } from '@medplum/fhirtypes';
import type { CodeEntry, ValueSetInput } from '../mappings/schema.js';

export const SYSTEMS = {
  snomed: 'http://snomed.info/sct',
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm',
  loinc: 'http://loinc.org',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  ucum: 'http://unitsofmeasure.org',
  /** The project's own code system, for things no standard code names (see fhir-mappings/README.md). */
  local: 'urn:trialmatch-cds:code',
} as const;

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
  return {
    id: input.id,
    title: input.title,
    exact,
    prefixes,
    excluded,
    names: (input.names ?? []).map((n) => n.toLowerCase()),
    steroidFactors,
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

/** Every `system|code` key in `keys` that the value set matches (for use with a patient's code index). */
export function matchingKeys(vs: CompiledValueSet, keys: Iterable<string>): string[] {
  const out: string[] = [];
  for (const key of keys) {
    const bar = key.indexOf('|');
    const system = key.slice(0, bar);
    const code = key.slice(bar + 1);
    if (matchCoding(vs, { system, code })) out.push(key);
  }
  return out;
}

/** The ingredient name in free text that this value set lists, for the by-name fallback. */
export function matchName(vs: CompiledValueSet, text: string | undefined): string | undefined {
  if (!text || vs.names.length === 0) return undefined;
  const lower = text.toLowerCase();
  return vs.names.find((name) => new RegExp(`\\b${escapeRegExp(name)}\\b`).test(lower));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Several code lists read as one ("cyclophosphamide or a biologic"); compiled once at start-up. */
export function unionValueSets(sets: readonly CompiledValueSet[]): CompiledValueSet {
  return {
    id: sets.map((s) => s.id).join('+'),
    title: sets.map((s) => s.title).join(' or '),
    exact: new Map(sets.flatMap((s) => [...s.exact])),
    prefixes: sets.flatMap((s) => s.prefixes),
    excluded: sets.flatMap((s) => s.excluded),
    names: [...new Set(sets.flatMap((s) => s.names))],
    steroidFactors: new Map(sets.flatMap((s) => [...s.steroidFactors])),
    members: sets,
  };
}
