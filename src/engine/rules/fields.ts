import { z } from 'zod';

/** Schema pieces the rule kinds share (README "How criteria are decided"). */

/** ISO 8601 duration subset used for look-back windows: P60D, P4W, P3M, P1Y. */
export const durationSchema = z
  .string()
  .regex(/^P\d+[DWMY]$/, 'a duration such as P60D, P4W, P3M or P1Y');

/** What an absent record means for this rule; see README "How criteria are decided". */
export const ifNoDataSchema = z.enum(['not-met', 'unknown', 'review']);

export const baseRule = {
  /** Stable id inside the criterion; defaults to the criterion id plus its position. */
  id: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/).optional(),
  /** Short text a clinician reads, e.g. "Hemoglobin >= 80 g/L". */
  label: z.string().min(1).optional(),
  /**
   * How the protocol text was read, when this part needs its own note: for the mapping's reader (the
   * syphilis parts use it), never shown on a card and not part of any answer.
   */
  note: z.string().optional(),
};

export const resourceRule = {
  ...baseRule,
  /** One code list, or several read as their union. */
  valueSet: z.union([z.string().min(1), z.array(z.string().min(1)).min(2)]),
  /** Records coded in this list do not count (a protocol's stated exceptions). */
  exceptValueSet: z.string().min(1).optional(),
  /** Look-back from the evaluation time; absent means any time in the record. */
  window: durationSchema.optional(),
  /** A FHIRPath boolean evaluated on each candidate resource; only resources where it is true count. */
  where: z.string().min(1).optional(),
  ifNoData: ifNoDataSchema.optional(),
  /**
   * 'review' when finding the record is not by itself enough (e.g. "severe" antiphospholipid syndrome):
   * the part is then shown for review with the evidence instead of being met.
   */
  onMatch: z.enum(['met', 'review']).optional(),
};

export const comparatorSchema = z.enum(['>=', '>', '<=', '<']);

/**
 * Which result decides a lab or measurement part, as the protocol means it (issue #10 item 2): the latest
 * result in the window ("currently >= X"), any result in the window ("positive within 12 months"), or any
 * result ever ("history of a positive test"; no window). Required, so every criterion states it.
 */
export const whichSchema = z.enum(['latest', 'any', 'ever']);

/** A window and `which` that contradict each other are a mapping error, not a silent choice. */
export function windowFitsWhich(r: { which: 'latest' | 'any' | 'ever'; window?: string | undefined }): boolean {
  return r.which !== 'ever' || r.window === undefined;
}
export const WHICH_WINDOW = { message: '"which": "ever" reads every result, so it takes no window', path: ['which'] };
