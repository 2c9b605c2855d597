import { createHash } from 'node:crypto';
import type { FetchFailureKind } from '../fhir/fhir-request.js';
import { listsForTranslations } from './concept-map.js';
import { questionUrl, type TerminologyAnswer, type TerminologyQuestion, type TerminologyServerClient } from './server-client.js';
import { matchesKey, type CompiledValueSet } from './value-set.js';

/**
 * Which of a record's codes to ask a site's terminology server about, and what its answers place (issue #17
 * item 3). Only where it can matter: a code of a system in which a list read by a criterion has a hierarchy
 * rule, on a resource of a type that list is read in, not already in that list by its own codes; and a code of a system no list uses (a local code) that
 * the site's ConceptMap does not hold, for ConceptMap/$translate. Bounded per hook by a number of questions
 * and a time budget; an answer that does not come leaves the code unplaced, so the criterion reads as if
 * there were no server (unknown at most), never as an exclusion.
 */

/** How the criteria read the lists (src/mappings/list-reads.ts), as far as placing codes needs it. */
export interface ListReadsView {
  read: ReadonlyMap<string, CompiledValueSet>;
  favourableOnly: ReadonlySet<string>;
  exceptions: ReadonlyMap<string, readonly CompiledValueSet[]>;
  types: ReadonlyMap<string, ReadonlySet<string>>;
}

interface Concept {
  system: string;
  code: string;
}

interface HierarchyList {
  vs: CompiledValueSet;
  /** The resource types the list is read in: a code found only on other types cannot matter to it. */
  types: ReadonlySet<string>;
  roots: readonly (Concept & { op: 'is-a' | 'descendent-of' })[];
  /**
   * Concepts a placed code must not be (nor be below): the list's own exclusions and the exceptions lists
   * of the parts that read it, in the systems of its roots. An excluded concept is taken with its
   * descendants: a code under it stays unplaced rather than counted.
   */
  notUnder: readonly Concept[];
}

/** What the service knows at start-up about where to ask: built once (planServerPlacements). */
export interface ServerPlacementPlan {
  lists: readonly HierarchyList[];
  hierarchySystems: ReadonlySet<string>;
  /** Systems some list uses: a code of any other system is a local code. */
  listSystems: ReadonlySet<string>;
  allLists: readonly CompiledValueSet[];
  favourableOnly: ReadonlySet<string>;
  /** Local codes the site's ConceptMap file holds: settled there, never asked. */
  localSources: ReadonlySet<string>;
}

export function planServerPlacements(valueSets: ReadonlyMap<string, CompiledValueSet>, reads: ListReadsView, localSources: ReadonlySet<string>): ServerPlacementPlan {
  const lists: HierarchyList[] = [];
  const hierarchySystems = new Set<string>();
  for (const vs of reads.read.values()) {
    if (!vs.hierarchy || vs.hierarchy.length === 0) continue;
    const systems = new Set(vs.hierarchy.map((h) => h.system));
    const notUnder: Concept[] = [...vs.excluded, ...(vs.excludedHierarchy ?? [])].filter((x) => systems.has(x.system)).map(({ system, code }) => ({ system, code }));
    for (const except of reads.exceptions.get(vs.id) ?? []) {
      for (const m of except.members ?? [except]) {
        for (const c of m.exact.values()) if (systems.has(c.system)) notUnder.push({ system: c.system, code: c.code });
        for (const h of m.hierarchy ?? []) if (systems.has(h.system)) notUnder.push({ system: h.system, code: h.code });
      }
    }
    lists.push({ vs, types: reads.types.get(vs.id) ?? new Set(), roots: vs.hierarchy, notUnder });
    for (const s of systems) hierarchySystems.add(s);
  }
  const listSystems = new Set<string>();
  for (const vs of valueSets.values()) {
    for (const c of vs.exact.values()) listSystems.add(c.system);
    for (const p of vs.prefixes) listSystems.add(p.system);
    for (const h of vs.hierarchy ?? []) listSystems.add(h.system);
  }
  return { lists, hierarchySystems, listSystems, allLists: [...valueSets.values()], favourableOnly: reads.favourableOnly, localSources };
}

/** The answers' store, shared by replicas (src/store/shared-state.ts TerminologyCache). */
export interface AnswerCache {
  get(keys: readonly string[], now: Date): Promise<Map<string, string>>;
  put(entries: readonly { key: string; value: string; expiresAt: Date }[]): Promise<void>;
}

export type UnsettledReason = 'failed' | 'unanswered' | 'cap' | 'time';

export interface ServerPlacementObserver {
  request?(outcome: 'ok' | FetchFailureKind, seconds: number): void;
  answered?(source: 'cache' | 'server', result: 'placed' | 'not-placed'): void;
  unsettled?(reason: UnsettledReason, count: number): void;
}

export interface ServerPlacementDeps {
  client: TerminologyServerClient;
  cache: AnswerCache;
  maxLookups: number;
  budgetMs: number;
  cacheSeconds: number;
  /** Wall-clock time for the cache's expiry (never the evaluation time, which a request may set). */
  clock?: () => Date;
  observe?: ServerPlacementObserver;
}

type Question =
  | { kind: 'list'; key: string; concept: Concept; list: HierarchyList; ops: TerminologyQuestion[] }
  | { kind: 'translate'; key: string; concept: Concept; ops: TerminologyQuestion[] };

function splitKey(key: string): Concept {
  const bar = key.indexOf('|');
  return { system: key.slice(0, bar), code: key.slice(bar + 1) };
}

/** A record's codes with the resources that carry them (PatientRecord.byCode). */
export type RecordCodes = Iterable<[string, readonly { resourceType: string }[]]>;

/** The questions a record's codes raise, in the record's order. */
function questionsFor(codes: RecordCodes, plan: ServerPlacementPlan): Question[] {
  const out: Question[] = [];
  for (const [key, resources] of codes) {
    const concept = splitKey(key);
    if (plan.hierarchySystems.has(concept.system)) {
      for (const list of plan.lists) {
        const roots = list.roots.filter((r) => r.system === concept.system);
        if (roots.length === 0 || matchesKey(list.vs, key)) continue;
        if (!resources.some((r) => list.types.has(r.resourceType))) continue;
        const notUnder = list.notUnder.filter((n) => n.system === concept.system);
        if (notUnder.some((n) => n.code === concept.code)) continue;
        const ops: TerminologyQuestion[] = [];
        if (list.vs.url) ops.push({ op: 'validate-code', url: list.vs.url, system: concept.system, code: concept.code });
        for (const r of [...roots, ...notUnder]) ops.push({ op: 'subsumes', system: concept.system, codeA: r.code, codeB: concept.code });
        out.push({ kind: 'list', key, concept, list, ops });
      }
    } else if (!plan.listSystems.has(concept.system) && !plan.localSources.has(key)) {
      out.push({ kind: 'translate', key, concept, ops: [{ op: 'translate', system: concept.system, code: concept.code }] });
    }
  }
  return out;
}

const IS_A = new Set(['equivalent', 'subsumes']);
const DESCENDANT = new Set(['subsumes']);
/** codeA (an excluded concept) does not subsume codeB (the record's code): the code is not under it. */
const NOT_UNDER = new Set(['not-subsumed', 'subsumed-by']);

/** placed, not placed, or not settled (an answer it needs did not come). */
function decide(q: Question, answer: (op: TerminologyQuestion) => TerminologyAnswer | undefined, plan: ServerPlacementPlan): Set<string> | 'not-placed' | 'unsettled' {
  if (q.kind === 'translate') {
    const a = answer(q.ops[0]!);
    if (a?.op !== 'translate') return 'unsettled';
    const lists = listsForTranslations(a.matches, plan.allLists, plan.favourableOnly);
    return lists.size > 0 ? lists : 'not-placed';
  }
  const { list, concept } = q;
  const subsumption = (codeA: string): string | undefined => {
    const a = answer({ op: 'subsumes', system: concept.system, codeA, codeB: concept.code });
    return a?.op === 'subsumes' ? a.outcome : undefined;
  };
  const validated = list.vs.url ? answer({ op: 'validate-code', url: list.vs.url, system: concept.system, code: concept.code }) : undefined;
  const roots = list.roots.filter((r) => r.system === concept.system);
  const rootAnswers = roots.map((r) => ({ r, outcome: subsumption(r.code) }));
  const inList = (validated?.op === 'validate-code' && validated.result) || rootAnswers.some(({ r, outcome }) => outcome !== undefined && (r.op === 'is-a' ? IS_A : DESCENDANT).has(outcome));
  if (!inList) return rootAnswers.some((x) => x.outcome === undefined) ? 'unsettled' : 'not-placed';
  const notUnder = list.notUnder.filter((n) => n.system === concept.system).map((n) => subsumption(n.code));
  if (notUnder.some((o) => o === undefined)) return 'unsettled';
  return notUnder.every((o) => NOT_UNDER.has(o!)) ? new Set([list.vs.id]) : 'not-placed';
}

/** The cache key of a question to a server: a digest, so keys are short and say nothing in the clear. */
function cacheKey(baseUrl: string, url: string): string {
  return createHash('sha256').update(`${baseUrl}\n${url}`).digest('hex');
}

function parseCached(value: string): TerminologyAnswer | undefined {
  try {
    const a = JSON.parse(value) as TerminologyAnswer;
    return a && typeof a === 'object' && typeof a.op === 'string' ? a : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves with the promise's value, or with `fallback` once `ms` have passed (or it fails). */
async function within<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), Math.max(0, ms));
  });
  try {
    return await Promise.race([work.catch(() => fallback), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The record's codes placed in lists by the site's terminology server: `system|code` -> list ids. Never
 * throws and never takes longer than the budget (plus a moment): what is not settled in time stays unplaced.
 */
export async function placeWithServer(codes: RecordCodes, plan: ServerPlacementPlan, deps: ServerPlacementDeps): Promise<Map<string, Set<string>>> {
  const placements = new Map<string, Set<string>>();
  const all = questionsFor(codes, plan);
  if (all.length === 0) return placements;
  const started = performance.now();
  const left = (): number => deps.budgetMs - (performance.now() - started);
  const questions = all.slice(0, deps.maxLookups);
  if (all.length > questions.length) deps.observe?.unsettled?.('cap', all.length - questions.length);

  const ops = new Map<string, TerminologyQuestion>();
  for (const q of questions) for (const op of q.ops) ops.set(questionUrl(op), op);
  const keyOf = new Map([...ops.keys()].map((url) => [url, cacheKey(deps.client.baseUrl, url)]));
  const clock = deps.clock ?? ((): Date => new Date());
  const cached = await within(deps.cache.get([...keyOf.values()], clock()), left(), new Map<string, string>());
  const answers = new Map<string, TerminologyAnswer>();
  const fromCache = new Set<string>();
  for (const [url, key] of keyOf) {
    const value = cached.get(key);
    const a = value === undefined ? undefined : parseCached(value);
    if (a) {
      answers.set(url, a);
      fromCache.add(url);
    }
  }
  const missing = [...ops].filter(([url]) => !answers.has(url)).map(([, op]) => op);
  let why: UnsettledReason = 'unanswered';
  if (missing.length > 0) {
    if (left() <= 0) why = 'time';
    else {
      const t = performance.now();
      const asked = await deps.client.ask(missing, left(), AbortSignal.timeout(Math.max(1, Math.ceil(left()))));
      deps.observe?.request?.(asked.failure ?? 'ok', (performance.now() - t) / 1000);
      if (asked.failure) why = asked.failure === 'aborted' || asked.failure === 'timeout' ? 'time' : 'failed';
      const expiresAt = new Date(clock().getTime() + deps.cacheSeconds * 1000);
      const fresh = [...asked.answers].map(([url, a]) => ({ key: keyOf.get(url)!, value: JSON.stringify(a), expiresAt }));
      for (const [url, a] of asked.answers) answers.set(url, a);
      // Off the hook's path: a cache that cannot be written costs a later hook a question, nothing more.
      if (fresh.length > 0) void deps.cache.put(fresh).catch(() => undefined);
    }
  }

  let unsettled = 0;
  for (const q of questions) {
    const result = decide(q, (op) => answers.get(questionUrl(op)), plan);
    if (result === 'unsettled') {
      unsettled++;
      continue;
    }
    const source = q.ops.every((op) => fromCache.has(questionUrl(op))) ? 'cache' : 'server';
    deps.observe?.answered?.(source, result === 'not-placed' ? 'not-placed' : 'placed');
    if (result === 'not-placed') continue;
    const set = placements.get(q.key) ?? new Set<string>();
    for (const id of result) set.add(id);
    placements.set(q.key, set);
  }
  if (unsettled > 0) deps.observe?.unsettled?.(why, unsettled);
  return placements;
}
