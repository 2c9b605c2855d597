import type { PartResult, TrialEvaluation } from '../../engine/types.js';
import type { Orderables, ScreeningTest } from '../../mappings/orderables.js';
import { shorten } from './text.js';

/** One thing that would settle open criteria: a test from fhir-mappings/orderables.json, or a datum in words. */
export interface Need {
  key: string;
  label: string;
  short: string;
  test?: ScreeningTest;
  /** `trialId|criterionId` of every open criterion it speaks to, across this patient's cards. */
  criteria: Set<string>;
  trials: Set<string>;
  /** Open parts it settles (a criterion may wait on several results of one panel). */
  parts: number;
  /** First seen, for a stable order among equals. */
  order: number;
}

/** A dose per kg waits on a body weight only when the engine says so; otherwise the medication itself is missing. */
function waitsOnWeight(p: PartResult): boolean {
  return (p.missing ?? []).some((m) => /\bbody weight\b/i.test(m));
}

/** The needs of one open part: its tests, else the engine's words for the missing datum. */
function partNeeds(e: TrialEvaluation, p: PartResult, fallback: readonly string[], orderables: Orderables): { key: string; label: string; short: string; test?: ScreeningTest }[] {
  const compiled = orderables.parts.get(e.trialId)?.get(p.id);
  let tests = compiled?.tests ?? [];
  if (compiled?.kind === 'medication' && !waitsOnWeight(p)) tests = [];
  if (tests.length > 0) return tests.map((t) => ({ key: `test:${t.id}`, label: t.label, short: t.short, test: t }));
  const words = p.missing && p.missing.length > 0 ? p.missing : fallback.length > 0 ? fallback : [p.label];
  // "medication history (Systemic glucocorticoids: …)": the datum leads, which list wanted it is for the app,
  // and one datum several criteria want is one need.
  return words.map((w) => {
    const head = w.replace(/\s*\(.*$/, '') || w;
    return { key: `text:${head}`, label: shorten(head, 60), short: shorten(head, 40) };
  });
}

/**
 * Every need of every card's trial, counted across all of this patient's evaluations (issue #11 item 1:
 * ranked by how many criteria, and trials, each settles), so the test that settles most comes first on every
 * card that needs it. Ineligible trials give no card and are not counted.
 */
export function rankNeeds(evaluations: readonly TrialEvaluation[], orderables: Orderables): { all: Need[]; byTrial: Map<string, Need[]> } {
  const needs = new Map<string, Need>();
  const byTrialKeys = new Map<string, Set<string>>();
  for (const e of evaluations) {
    if (e.status === 'ineligible') continue;
    const keys = new Set<string>();
    for (const c of e.criteria) {
      if (c.outcome !== 'unknown') continue;
      for (const p of c.open) {
        if (p.outcome !== 'unknown') continue;
        for (const n of partNeeds(e, p, c.missing, orderables)) {
          let need = needs.get(n.key);
          if (!need) {
            need = { ...n, criteria: new Set(), trials: new Set(), parts: 0, order: needs.size };
            needs.set(n.key, need);
          }
          need.criteria.add(`${e.trialId}|${c.id}`);
          need.trials.add(e.trialId);
          need.parts += 1;
          keys.add(n.key);
        }
      }
    }
    byTrialKeys.set(e.trialId, keys);
  }
  const all = [...needs.values()].sort(
    (a, b) => b.criteria.size - a.criteria.size || b.trials.size - a.trials.size || b.parts - a.parts || a.order - b.order,
  );
  const byTrial = new Map<string, Need[]>();
  for (const [trialId, keys] of byTrialKeys) byTrial.set(trialId, all.filter((n) => keys.has(n.key)));
  return { all, byTrial };
}
