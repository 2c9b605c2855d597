import type { Observation } from '@medplum/fhirtypes';
import { z } from 'zod';
import type { CompiledValueSet } from '../../terminology/value-set.js';
import { findByValueSet, observationDateIn, type EvalContext } from '../context.js';
import { addDuration, describeDuration, formatDate } from '../dates.js';
import { isUsableResult, polarity, type DatedObservation } from '../observation-values.js';
import type { Evidence } from '../types.js';
import { durationSchema } from './fields.js';
import { baseEvidence } from './lab.js';

/**
 * A screening test and the tests that confirm it (issue 18 item 4): a reactive HBsAg immunoassay and the
 * HBsAg neutralisation test, a reactive HIV antigen/antibody test and the supplemental antibody assay with
 * the HIV-1 RNA, a reactive HCV antibody and the HCV immunoblot, a reactive RPR and a treponemal test.
 * A confirmatory result dated on or after the screen's day, within `within`, decides the screen:
 * - positive on any confirmatory test: the screen is confirmed positive;
 * - negative on every confirmatory test named: the screen is not positive (a false-reactive screen);
 * - anything else (one of two tests negative and the other not done, an indeterminate or unreadable
 *   confirmation, a test read both ways): unknown, with the missing test named. Never an exclusion.
 * A reactive screen with no confirmatory result stands as read. The mapping names each confirmatory test
 * as one code list (`valueSet`, or a list of them when every one must be negative).
 */
export const confirmedBySchema = z.strictObject({
  /** One code list per confirmatory test; a reactive screen is set aside only when every one is negative. */
  valueSet: z.union([z.string().min(1), z.array(z.string().min(1)).min(2)]),
  /** How long after the screen a confirmatory result still belongs to it (ISO 8601: P30D). */
  within: durationSchema,
});

export interface CompiledConfirmation {
  tests: readonly CompiledValueSet[];
  within: string;
}

export type ScreenReading =
  /** No confirmatory result belongs to this screen: it stands as read. */
  | { kind: 'none' }
  | { kind: 'positive' | 'negative'; how: string; evidence: Evidence[] }
  | { kind: 'unknown'; how: string; evidence: Evidence[]; missing: string[] };

/** Whether a result is one of the confirmatory tests (then it is read with the screen it confirms). */
export function isConfirmatory(c: CompiledConfirmation, ctx: EvalContext, o: Observation): boolean {
  return c.tests.some((t) => findByValueSet(ctx, t, ['Observation']).includes(o));
}

/**
 * The reactive screen a confirmatory result belongs to: the latest screen read positive on or before its day,
 * within `within` before it. Undefined when it confirms none (it is then read on its own).
 */
export function screenOf(c: CompiledConfirmation, ctx: EvalContext, confirmation: DatedObservation, screens: readonly Observation[]): DatedObservation | undefined {
  let found: DatedObservation | undefined;
  for (const o of screens) {
    if (!isUsableResult(o) || isConfirmatory(c, ctx, o)) continue;
    const date = observationDateIn(ctx, o);
    if (!date || !belongsTo(c, date, confirmation.date) || readingOf(ctx, o) !== 'positive') continue;
    if (!found || date > found.date) found = { observation: o, date };
  }
  return found;
}

/** A confirmatory result dated on the screen's day or after it, within `within`. */
function belongsTo(c: CompiledConfirmation, screen: Date, confirmation: Date): boolean {
  const dayStart = Date.UTC(screen.getUTCFullYear(), screen.getUTCMonth(), screen.getUTCDate());
  return confirmation.getTime() >= dayStart && confirmation <= addDuration(screen, c.within);
}

function readingOf(ctx: EvalContext, o: Observation): 'positive' | 'negative' | 'indeterminate' | undefined {
  const p = polarity(o, ctx.units, ctx.engine.resultPositive, ctx.engine.resultNegative, ctx.engine.resultIndeterminate);
  return p?.polarity;
}

/** What the confirmatory tests after a reactive screen say about it. */
export function readScreen(c: CompiledConfirmation, ctx: EvalContext, screen: DatedObservation): ScreenReading {
  const evidence: Evidence[] = [];
  const perTest = c.tests.map((test) => {
    const readings = new Set<string>();
    for (const o of findByValueSet(ctx, test, ['Observation']) as Observation[]) {
      if (!isUsableResult(o) || o === screen.observation) continue;
      const date = observationDateIn(ctx, o);
      // A result dated after today (a day's grace for time zones, as resultsInWindow) is a data error: not read.
      if (!date || !belongsTo(c, screen.date, date) || date.getTime() > ctx.now.getTime() + 86_400_000) continue;
      const r = readingOf(ctx, o) ?? 'unread';
      readings.add(r);
      evidence.push({ ...baseEvidence({ observation: o, date }), value: r === 'unread' ? 'not read' : r, note: `confirmatory test of the screen of ${formatDate(screen.date) ?? 'an unknown date'}` });
    }
    return { test, readings };
  });
  if (evidence.length === 0) return { kind: 'none' };
  const span = `within ${describeDuration(c.within)} of the screen`;
  const said = evidence.map((e) => `${e.display} ${String(e.value)} ${e.date ?? ''}`.trim()).join(', ');
  if (perTest.some((t) => t.readings.has('positive') && t.readings.has('negative'))) {
    return { kind: 'unknown', how: `confirmatory results disagree (${said})`, evidence, missing: [`a repeat ${perTest[0]!.test.title}`] };
  }
  if (perTest.some((t) => t.readings.has('positive'))) return { kind: 'positive', how: `confirmed: ${said}`, evidence };
  if (perTest.every((t) => t.readings.size === 1 && t.readings.has('negative'))) return { kind: 'negative', how: `not confirmed: ${said}`, evidence };
  const open = perTest.filter((t) => !(t.readings.size === 1 && t.readings.has('negative')));
  // A test done but indeterminate or unreadable asks for a repeat; a test not done, for the test.
  const missing = open.map((t) => (t.readings.size > 0 ? `a repeat ${t.test.title}` : t.test.title));
  return { kind: 'unknown', how: `confirmation not complete (${said}; no negative ${open.map((t) => t.test.title).join(', ')} ${span})`, evidence, missing };
}
