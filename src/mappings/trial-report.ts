import type { CompiledCriterion, CompiledLeaf, CompiledTrial, PartWindow } from '../engine/compiled.js';
import { isUcumUnit } from '../engine/units.js';
import { leavesOf, type ListUnits } from './trial-checks.js';

/**
 * What a trial file will decide from a site's records, per protocol item, before go-live (issue #21 item 1,
 * `npm run check-trial`): the kinds of data each item reads, its code lists, its windows and the events they
 * count from, and whether the record can decide it.
 *
 * - `automatic`: every part can be decided from the coded record, either way.
 * - `mixed`: the record decides some of it, the rest goes to the study team: a review part beside coded ones,
 *   a finding that only sends the item to review (`onMatch: review`), or a window counted from an event still
 *   ahead (consent, enrolment, first dose), which the record cannot place from today (fhir-mappings/README.md,
 *   "Anchors and where each window comes from"). A project-default window is decided from the record, but
 *   never hides a trial on its own: its window line says "project default".
 * - `review`: nothing in the record decides it (consent, judgement, a test of the screening visit).
 */
export type Decidability = 'automatic' | 'mixed' | 'review';

export interface CriterionReport {
  id: string;
  type: 'inclusion' | 'exclusion';
  item: string;
  kinds: string[];
  lists: string[];
  /** "P30D back from screening (protocol: "within 30 days")" */
  windows: string[];
  decides: Decidability;
  /** What the checks could not verify, for the site to look at (a unit its list gives nothing to compare with). */
  notes: string[];
}

export interface TrialReport {
  id: string;
  file: string;
  criteria: CriterionReport[];
  /** Items the record can decide alone, items it decides in part, and all items. */
  counts: { automatic: number; mixed: number; review: number; total: number };
}

const ids = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Every code list a part names: its list, exceptions, broader codes, confirmatory tests and FHIRPath reads. */
function listsOf(spec: Record<string, unknown>): string[] {
  const reads = Array.isArray(spec['reads']) ? (spec['reads'] as { valueSet?: unknown }[]) : [];
  return [
    ...ids(spec['valueSet']),
    ...ids(spec['exceptValueSet']).map((l) => `${l} (except)`),
    ...ids(spec['broaderValueSet']).map((l) => `${l} (broader)`),
    ...ids((spec['confirmedBy'] as { valueSet?: unknown } | undefined)?.valueSet).map((l) => `${l} (confirms)`),
    ...reads.flatMap((r) => ids(r.valueSet)),
  ];
}

const ANCHOR_WORDS: Readonly<Record<PartWindow['anchor'], string>> = {
  screening: 'back from screening (today)',
  consent: 'counted from consent (ahead)',
  enrolment: 'counted from enrolment (ahead)',
  'first-dose': 'counted from the first dose (ahead)',
};

function windowText(w: PartWindow, part: string): string {
  const field = w.field === 'window' ? '' : `${w.field} `;
  const origin = w.quote !== undefined ? `protocol: "${w.quote}"` : 'project default';
  return `${part}: ${field}${w.duration} ${ANCHOR_WORDS[w.anchor]} (${origin})`;
}

function leafDecides(leaf: CompiledLeaf, c: CompiledCriterion): Decidability {
  if (leaf.kind === 'review') return 'review';
  const spec = leaf.spec as Record<string, unknown>;
  if (spec['onMatch'] === 'review' || spec['ifNoData'] === 'review') return 'mixed';
  const windows = c.guards.get(leaf.id)?.windows ?? [];
  if (windows.some((w) => w.anchor !== 'screening')) return 'mixed';
  return 'automatic';
}

function unitNotes(leaf: CompiledLeaf, units: ListUnits): string[] {
  const spec = leaf.spec as { unit?: unknown; valueSet?: unknown };
  if (leaf.kind !== 'measurement' || typeof spec.unit !== 'string') return [];
  return ids(spec.valueSet)
    .filter((list) => !units(list).some(isUcumUnit))
    .map((list) => `part ${leaf.id}: unit "${String(spec.unit)}" not checked: the code list "${list}" gives no UCUM unit for its codes`);
}

export function reportCriterion(c: CompiledCriterion, units: ListUnits): CriterionReport {
  const leaves = leavesOf(c.rule);
  const each = leaves.map((l) => leafDecides(l, c));
  const decides: Decidability = each.every((d) => d === 'automatic') ? 'automatic' : each.every((d) => d === 'review') ? 'review' : 'mixed';
  return {
    id: c.id,
    type: c.type,
    item: c.item,
    kinds: [...new Set(leaves.map((l) => l.kind))],
    lists: [...new Set(leaves.flatMap((l) => listsOf(l.spec as Record<string, unknown>)))],
    windows: [...c.guards].flatMap(([part, g]) => g.windows.map((w) => windowText(w, part))),
    decides,
    notes: leaves.flatMap((l) => unitNotes(l, units)),
  };
}

export function reportTrial(trial: CompiledTrial, units: ListUnits): TrialReport {
  const criteria = trial.criteria.map((c) => reportCriterion(c, units));
  const count = (d: Decidability): number => criteria.filter((c) => c.decides === d).length;
  return { id: trial.id, file: trial.file, criteria, counts: { automatic: count('automatic'), mixed: count('mixed'), review: count('review'), total: criteria.length } };
}
