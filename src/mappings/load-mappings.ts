import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join, basename } from 'node:path';
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';
import { z } from 'zod';
import { compileValueSet, unionValueSets, type CompiledValueSet, type ExpandedConcept } from '../terminology/value-set.js';
import { indexValueSets } from '../terminology/value-set-index.js';
import { EXPANDED_FROM_EXTENSION } from '../terminology/expand.js';
import type { ClinicalResource } from '../patient/patient-record.js';
import { decisionPlan } from '../engine/decision-order.js';
import { DURATION_FIELDS, type CompiledCriterion, type CompiledRule, type CompiledTrial, type DurationField, type EngineValueSets, type PartGuard, type PartWindow, type ResourcePredicate } from '../engine/compiled.js';
import type { CompileScope, CompiledExpression, RuleKind } from '../engine/rule-kind.js';
import { RULE_KINDS } from '../engine/rules/registry.js';
import type { MappingSet, MappingTerminology } from './compiled.js';
import { analyseListReads } from './list-reads.js';
import { conceptMapSchema, conceptMapTranslations, listsForTranslations } from '../terminology/concept-map.js';
import { matchesKey } from '../terminology/value-set.js';
import { NO_ORDERABLES, compileOrderables, orderablesSchema } from './orderables.js';
import { checkTrial } from './trial-checks.js';
import {
  GROUP_KINDS,
  localCodesSchema,
  trialSchemaFor,
  valueSetSchema,
  type CodeEntry,
  type CriterionInput,
  type RuleInput,
  type ValueSetInput,
} from './schema.js';

/** A mapping that cannot be loaded: the message names the file and, where it applies, the criterion. */
export class MappingError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'MappingError';
  }
}

function readJson(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MappingError(file, `not valid JSON: ${jsonErrorAt(text, (err as Error).message)}`);
  }
}

/**
 * A JSON syntax error with its line and column (issue #21 item 1: "position 192" sent a site counting
 * characters). Node 20's V8 gives only the offset ("... in JSON at position 192"), or none at the end of input.
 */
export function jsonErrorAt(text: string, message: string): string {
  if (/line \d+ column \d+/.test(message)) return message;
  const at = /at position (\d+)/.exec(message);
  const offset = at ? Number(at[1]) : /end of JSON input/.test(message) ? text.length : undefined;
  if (offset === undefined) return message;
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const column = (before[before.length - 1]?.length ?? 0) + 1;
  return `${message.replace(/ in JSON at position \d+.*$/, '')} at line ${line} column ${column}`;
}

function parseWith<T>(schema: z.ZodType<T>, data: unknown, file: string): T {
  const res = schema.safeParse(data);
  if (res.success) return res.data;
  const issues = res.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}${criterionAt(data, i.path)}: ${i.message}`);
  throw new MappingError(file, `does not match the mapping schema: ${issues.join('; ')}`);
}

/** " (criterion exc-3)" when a schema issue lies inside a trial's criterion, so the message names it. */
function criterionAt(data: unknown, path: readonly PropertyKey[]): string {
  if (path[0] !== 'criteria' || typeof path[1] !== 'number') return '';
  const criteria = (data as { criteria?: unknown }).criteria;
  const id = Array.isArray(criteria) ? (criteria[path[1]] as { id?: unknown } | undefined)?.id : undefined;
  return typeof id === 'string' ? ` (criterion ${id})` : '';
}

function jsonFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));
}

/** Compiles a FHIRPath boolean once; at evaluation a non-boolean or error is a fault of that part. */
function compileWhere(expression: string): ResourcePredicate {
  const fn = fhirpath.compile(expression, r4model);
  return (resource: ClinicalResource): boolean => {
    const out = fn(resource);
    // Expressions here use no async functions, so the result is an array, never a promise.
    if (!Array.isArray(out)) throw new Error(`FHIRPath "${expression}" returned a promise`);
    if (out.length === 1 && typeof out[0] === 'boolean') return out[0];
    if (out.length === 0) return false;
    throw new Error(`FHIRPath "${expression}" did not give a boolean`);
  };
}

/** A FHIRPath expression of a `fhirpath` part, compiled once; a promise (async function) is a fault. */
function compileExpression(expression: string): CompiledExpression {
  const fn = fhirpath.compile(expression, r4model);
  return (focus: unknown, env: Record<string, unknown>): unknown[] => {
    const out = fn(focus, env);
    if (!Array.isArray(out)) throw new Error(`FHIRPath "${expression}" returned a promise`);
    return out;
  };
}

interface LoadScope {
  file: string;
  criterion: string;
  /** See CompileScope.absenceExcludes: the criterion's type, flipped by each `not` above the part. */
  absenceExcludes: boolean;
  valueSets: ReadonlyMap<string, CompiledValueSet>;
  engine: EngineValueSets;
  kinds: ReadonlyMap<string, RuleKind>;
}

/** What a kind gets to compile one part: lookups and compilers that name the criterion and part in errors. */
function compileScope(id: string, scope: LoadScope): CompileScope {
  const where = `criterion ${scope.criterion}, part ${id}`;
  const fail = (message: string): never => {
    throw new MappingError(scope.file, `${where}: ${message}`);
  };
  const lookup = (vsId: string): CompiledValueSet => scope.valueSets.get(vsId) ?? fail(`unknown value set "${vsId}"`);
  const compiled = <T>(expression: string, compile: (e: string) => T): T => {
    try {
      return compile(expression);
    } catch (err) {
      return fail(`FHIRPath "${expression}" does not compile: ${(err as Error).message}`);
    }
  };
  return {
    id,
    engine: scope.engine,
    absenceExcludes: scope.absenceExcludes,
    valueSet: (ids) => (typeof ids === 'string' ? lookup(ids) : unionValueSets(ids.map(lookup))),
    where: (expression) => compiled(expression, compileWhere),
    expression: (expression) => compiled(expression, compileExpression),
    fail,
  };
}

function compileRule(rule: RuleInput, id: string, scope: LoadScope): CompiledRule {
  if ('of' in rule) {
    const group = rule;
    const inner = group.kind === 'not' ? { ...scope, absenceExcludes: !scope.absenceExcludes } : scope;
    const of = group.of.map((r, i) => compileRule(r, r.id ?? `${id}.${i + 1}`, inner));
    const n = group.kind === 'atLeast' ? group.n : group.kind === 'all' ? of.length : 1;
    const where = `criterion ${scope.criterion}, part ${id}`;
    if (group.kind === 'not' && of.length !== 1) throw new MappingError(scope.file, `${where}: "not" takes exactly one part`);
    if (n > of.length) throw new MappingError(scope.file, `${where}: at least ${n} of only ${of.length} parts`);
    return { kind: group.kind, id: group.id ?? id, label: group.label ?? group.kind, n, of };
  }
  // The rule schema was built from these kinds, so a parsed leaf always names one of them.
  const kind = scope.kinds.get(rule.kind);
  if (!kind) throw new MappingError(scope.file, `criterion ${scope.criterion}, part ${id}: unknown kind "${rule.kind}"`);
  return kind.compile(rule, compileScope(rule.id ?? id, scope));
}

function compileCriterion(c: CriterionInput, scope: Omit<LoadScope, 'criterion' | 'absenceExcludes'>): CompiledCriterion {
  const full: LoadScope = { ...scope, criterion: c.id, absenceExcludes: c.type === 'inclusion' };
  const rule = compileRule(c.rule, c.rule.id ?? c.id, full);
  return {
    id: c.id,
    type: c.type,
    item: c.item,
    text: c.text,
    interpretation: c.interpretation,
    anchor: c.anchor,
    rule,
    guards: compileGuards(c, rule, full),
  };
}

/** Whitespace and case aside, a quote must be the protocol's own words. */
function squash(s: string): string {
  return s.replace(/\s+/g, ' ').trim().toLowerCase();
}

/**
 * Issue 18 item 3: every part with a window says where the window comes from (the protocol's words, or a
 * project default and why), and which event it counts from. A window without an origin, an origin for a
 * part without a window or for no part, and a quote not in the item's text stop the load. Each windowed part
 * gets its guard: the outcome that would hide the trial from where it sits (an exclusion's `met`, an
 * inclusion's `not-met`, swapped under `not`), and, where the guard must know what the record shows
 * regardless of the duration, the part compiled without it.
 */
function compileGuards(c: CriterionInput, rule: CompiledRule, scope: LoadScope): Map<string, PartGuard> {
  const fail = (message: string): never => {
    throw new MappingError(scope.file, `criterion ${c.id}: ${message}`);
  };
  const origins = new Map(Object.entries(c.windows ?? {}));
  const guards = new Map<string, PartGuard>();
  const walk = (r: CompiledRule, hides: 'met' | 'not-met'): void => {
    if ('of' in r) {
      const inner = r.kind === 'not' ? (hides === 'met' ? 'not-met' : 'met') : hides;
      for (const x of r.of) walk(x, inner);
      return;
    }
    const spec = r.spec as Record<string, unknown>;
    const fields = DURATION_FIELDS.filter((f) => typeof spec[f] === 'string');
    const origin = origins.get(r.id);
    origins.delete(r.id);
    if (fields.length === 0) {
      if (origin) fail(`windows.${r.id}: the part has no window`);
      return;
    }
    if (!origin) {
      return fail(`part ${r.id} has a window (${fields.map((f) => `${f} ${String(spec[f])}`).join(', ')}) but no origin: add windows["${r.id}"] with the protocol's "quote" or a "projectDefault"`);
    }
    if (origin.quote !== undefined && !squash(c.text).includes(squash(origin.quote))) fail(`windows.${r.id}: the quote "${origin.quote}" is not in the item's text`);
    const anchor = origin.anchor ?? c.anchor;
    const windows: PartWindow[] = fields.map((field) => ({
      field,
      duration: String(spec[field]),
      anchor,
      ...(origin.quote !== undefined ? { quote: origin.quote } : {}),
      ...(origin.projectDefault !== undefined ? { projectDefault: origin.projectDefault } : {}),
    }));
    const guard: PartGuard = { hides, windows };
    const twinFields = twinDurations(spec, windows);
    if (twinFields.length > 0) {
      const kind = scope.kinds.get(r.kind) ?? fail(`part ${r.id}: unknown kind "${r.kind}"`);
      const without: Record<string, unknown> = { ...spec };
      for (const f of twinFields) delete without[f];
      guard.twin = kind.compile(without as { kind: string }, compileScope(r.id, scope));
    }
    guards.set(r.id, guard);
  };
  walk(rule, c.type === 'exclusion' ? 'met' : 'not-met');
  for (const id of origins.keys()) fail(`windows.${id}: no part of this criterion has that id`);
  return guards;
}

/**
 * The durations the guard needs the part without: a "stable for N before the first dose" (is the drug
 * current at all?), and a project-default look-back on a dated event (is the finding there at any time?).
 * Result parts (`which`) need none: a default window there only lets an earlier result stand for the
 * screening test, which the guard never lets decide alone.
 */
function twinDurations(spec: Record<string, unknown>, windows: readonly PartWindow[]): DurationField[] {
  return windows
    .filter((w) => (w.field === 'startedAtLeast' && w.anchor !== 'screening') || (w.field === 'window' && w.projectDefault !== undefined && spec['which'] === undefined))
    .map((w) => w.field);
}

function collectIds(rule: CompiledRule, out: string[]): string[] {
  out.push(rule.id);
  if ('of' in rule) for (const r of rule.of) collectIds(r, out);
  return out;
}

export interface LoadOptions {
  /** fhir-mappings/ */
  dir: string;
  /** A site's local codes file (JSON, localCodesSchema); optional. */
  localCodesFile?: string;
  /** A site's local codes as a FHIR R4 ConceptMap (JSON); optional, beside or instead of localCodesFile. */
  localConceptMapFile?: string;
  /** The rule kinds a mapping may name; src/engine/rules/registry.ts unless a test brings its own. */
  kinds?: readonly RuleKind[];
  /**
   * Trial files from outside `dir`/trials, loaded as if they were in it and newer than every file there
   * (`npm run check-trial -- <file>` checks a trial against the installed ones before it is added).
   */
  extraTrialFiles?: readonly string[];
  /**
   * When given, a trial file with a mistake is recorded here and left out, and loading goes on, so every
   * mistake of every file is reported at once (check-trial). Without it (start-up) the first one stops the load.
   */
  problems?: MappingError[];
}

function kindMap(kinds: readonly RuleKind[]): ReadonlyMap<string, RuleKind> {
  const map = new Map<string, RuleKind>();
  for (const k of kinds) {
    if (map.has(k.kind) || GROUP_KINDS.includes(k.kind)) throw new Error(`rule kind "${k.kind}" is registered twice or names a group`);
    map.set(k.kind, k);
  }
  return map;
}

/**
 * For each trial file whose id another file already has, that other file: the duplicate is blamed on the
 * newer file (issue #21 item 1), never on the trial that was there first. The one kept is a file in the
 * trials folder before one brought from outside, a file named after its id before a copy under another name,
 * then the file modified first.
 */
function blameDuplicates(parsed: readonly { file: string; input: { id: string }; installed: boolean }[]): Map<string, string> {
  const byId = new Map<string, { file: string; installed: boolean; named: boolean; mtime: number }[]>();
  for (const p of parsed) {
    const list = byId.get(p.input.id) ?? [];
    list.push({ file: p.file, installed: p.installed, named: basename(p.file) === `${p.input.id}.json`, mtime: statSync(p.file).mtimeMs });
    byId.set(p.input.id, list);
  }
  const blamed = new Map<string, string>();
  for (const files of byId.values()) {
    if (files.length < 2) continue;
    const rank = (f: (typeof files)[number]): number[] => [f.installed ? 0 : 1, f.named ? 0 : 1, f.mtime];
    const [original, ...newer] = [...files].sort((a, b) => {
      const ra = rank(a);
      const rb = rank(b);
      const i = ra.findIndex((v, k) => v !== rb[k]);
      return i < 0 ? 0 : (ra[i] ?? 0) - (rb[i] ?? 0);
    });
    for (const f of newer) if (original) blamed.set(f.file, original.file);
  }
  return blamed;
}

/** The part of a committed expansion the service reads: its concepts and the rule that brought each in. */
const expansionSchema = z.object({
  expansion: z.object({
    contains: z
      .array(
        z.object({
          system: z.string(),
          code: z.string(),
          display: z.string(),
          extension: z.array(z.object({ url: z.string(), valueString: z.string().optional() })).optional(),
        }),
      )
      .default([]),
  }),
});

/**
 * The descendants the list's committed expansion (fhir-mappings/expansions/<id>.json, built by
 * `npm run terminology:expand`) adds through its hierarchy rules. Only concepts brought in by a rule the
 * authoring file still holds are taken: a listed code comes from the authoring file itself, so an expansion
 * not yet rebuilt can miss a new descendant (a test fails on that) but never keeps a code that was removed.
 */
function expandedConcepts(dir: string, vs: ValueSetInput): ExpandedConcept[] {
  const rules = new Set((vs.hierarchy ?? []).filter((h) => !h.exclude).map((h) => `${h.system} ${h.op} ${h.code}`));
  if (rules.size === 0) return [];
  const file = join(dir, 'expansions', `${vs.id}.json`);
  if (!existsSync(file)) return [];
  const parsed = parseWith(expansionSchema, readJson(file), file);
  return parsed.expansion.contains
    .filter((c) => c.extension?.some((e) => e.url === EXPANDED_FROM_EXTENSION && e.valueString !== undefined && rules.has(e.valueString)))
    .map((c) => ({ system: c.system, code: c.code, display: c.display }));
}

const ENGINE_VALUE_SETS = {
  bodyWeight: 'body-weight',
  resultPositive: 'result-positive',
  resultNegative: 'result-negative',
  resultIndeterminate: 'result-indeterminate',
} as const;

/**
 * Loads, validates and compiles every code list and trial in fhir-mappings/. Anything wrong stops here
 * with the file and criterion named, so a broken mapping never reaches a patient.
 */
/** What a loaded mapping set is called where it is handed around (the population contract, issue #19). */
export type LoadedMappings = MappingSet;

export function loadMappings(options: LoadOptions): MappingSet {
  const local = new Map<string, CodeEntry[]>();
  if (options.localCodesFile) {
    if (!existsSync(options.localCodesFile)) throw new MappingError(options.localCodesFile, 'local codes file not found');
    const parsed = parseWith(localCodesSchema, readJson(options.localCodesFile), options.localCodesFile);
    for (const [id, codes] of Object.entries(parsed.valueSets)) local.set(id, codes);
  }
  const valueSets = new Map<string, CompiledValueSet>();
  const listUnits = new Map<string, string[]>();
  for (const file of jsonFiles(join(options.dir, 'valuesets'))) {
    const vs: ValueSetInput = parseWith(valueSetSchema, readJson(file), file);
    if (`${vs.id}.json` !== basename(file)) throw new MappingError(file, `id "${vs.id}" does not match the file name`);
    valueSets.set(vs.id, compileValueSet(vs, local.get(vs.id) ?? [], expandedConcepts(options.dir, vs)));
    listUnits.set(vs.id, [...vs.codes, ...(local.get(vs.id) ?? [])].flatMap((c) => (c.unit !== undefined ? [c.unit] : [])));
  }
  indexValueSets(valueSets);
  for (const id of local.keys()) {
    if (!valueSets.has(id)) throw new MappingError(options.localCodesFile ?? 'local codes', `adds codes to unknown value set "${id}"`);
  }
  const engine = Object.fromEntries(
    Object.entries(ENGINE_VALUE_SETS).map(([key, id]) => {
      const vs = valueSets.get(id);
      if (!vs) throw new MappingError(join(options.dir, 'valuesets', `${id}.json`), 'required by the evaluator but missing');
      return [key, vs];
    }),
  ) as unknown as EngineValueSets;

  const kindList = options.kinds ?? RULE_KINDS;
  const kinds = kindMap(kindList);
  const trialSchema = trialSchemaFor(kindList);
  const trials: CompiledTrial[] = [];
  // A mistake in one trial file stops the load, or, when the caller collects problems, leaves that file out.
  const attempt = <T>(step: () => T): T | undefined => {
    try {
      return step();
    } catch (err) {
      if (!(err instanceof MappingError) || !options.problems) throw err;
      options.problems.push(err);
      return undefined;
    }
  };
  const installed = jsonFiles(join(options.dir, 'trials'));
  const parsed = [...installed, ...(options.extraTrialFiles ?? [])].flatMap((file) => {
    const input = attempt(() => parseWith(trialSchema, readJson(file), file));
    return input ? [{ file, input, installed: installed.includes(file) }] : [];
  });
  const blamed = blameDuplicates(parsed);
  for (const { file, input } of parsed) {
    const trial = attempt((): CompiledTrial => {
      const original = blamed.get(file);
      if (original !== undefined) throw new MappingError(file, `duplicate trial id "${input.id}": ${original} already has it (give this trial its own id, and name the file after it)`);
      // Issue #21 item 1: the file name is the id, as for code lists, so a site finds a trial's file from its id.
      if (`${input.id}.json` !== basename(file)) throw new MappingError(file, `id "${input.id}" does not match the file name: name the file ${input.id}.json`);
      const criteria = input.criteria.map((c) => compileCriterion(c, { file, valueSets, engine, kinds }));
      const seen = new Set<string>();
      for (const c of criteria) {
        for (const id of collectIds(c.rule, [])) {
          if (seen.has(id)) throw new MappingError(file, `criterion ${c.id}: duplicate part id "${id}"`);
          seen.add(id);
        }
      }
      const compiled: CompiledTrial = { ...input, criteria, decisionPlan: decisionPlan(criteria), file };
      const problems = checkTrial(compiled, (id) => listUnits.get(id) ?? []);
      if (problems.length > 0) throw new MappingError(file, problems.map((p) => `criterion ${p.criterion}, ${p.message}`).join('; '));
      return compiled;
    });
    if (trial) trials.push(trial);
  }
  if (trials.length === 0 && !options.problems?.length) throw new MappingError(join(options.dir, 'trials'), 'no trials found');
  // The tests that settle unknown criteria (issue #11): optional, so a folder without them still loads.
  const orderablesFile = join(options.dir, 'orderables.json');
  const orderables = existsSync(orderablesFile)
    ? compileOrderables(parseWith(orderablesSchema, readJson(orderablesFile), orderablesFile), valueSets, trials, (message) => {
        throw new MappingError(orderablesFile, message);
      })
    : NO_ORDERABLES;
  const mappings: MappingSet = { trials, valueSets, engine, orderables, terminology: loadTerminology(trials, valueSets, options.localConceptMapFile), listUnits };
  if (!options.kinds) {
    mappings.source = {
      dir: options.dir,
      ...(options.localCodesFile ? { localCodesFile: options.localCodesFile } : {}),
      ...(options.localConceptMapFile ? { localConceptMapFile: options.localConceptMapFile } : {}),
    };
  }
  return mappings;
}

/**
 * How the criteria read the lists, and the site's ConceptMap read into placements. Every target code of the
 * map must be in some list: a target in none is a typo or a code the service does not read, and start-up
 * stops naming it rather than silently ignoring the site's mapping.
 */
function loadTerminology(trials: readonly CompiledTrial[], valueSets: ReadonlyMap<string, CompiledValueSet>, file: string | undefined): MappingTerminology {
  const listReads = analyseListReads(trials);
  const localPlacements = new Map<string, ReadonlySet<string>>();
  if (!file) return { listReads, localPlacements, localSources: new Set() };
  if (!existsSync(file)) throw new MappingError(file, 'local ConceptMap file not found');
  const map = parseWith(conceptMapSchema, readJson(file), file);
  const translations = conceptMapTranslations(map);
  for (const [source, list] of translations) {
    for (const t of list) {
      if (![...valueSets.values()].some((vs) => matchesKey(vs, t.target))) {
        throw new MappingError(file, `the mapping of ${source} names ${t.target} (${t.equivalence}), which is in no code list of fhir-mappings/valuesets/`);
      }
    }
    const placed = listsForTranslations(list, valueSets.values(), listReads.favourableOnly);
    if (placed.size > 0) localPlacements.set(source, placed);
  }
  return { listReads, localPlacements, localSources: new Set(translations.keys()) };
}
