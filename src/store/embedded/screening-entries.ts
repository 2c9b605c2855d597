import { z } from 'zod';
import type { StatusReasonCode, TrialStatus } from '../../engine/types.js';
import { PATIENT_STATES } from '../patient-states.js';

/**
 * The lines of the embedded screening journal (SCREENING_FILE, src/store/embedded/screening-store.ts).
 *
 * A population job writes one entry per patient and trial; most patients share the same criterion outcomes and
 * open items, so those are written once as an `outcomes` line, named by a digest of their content, and each
 * `screening` line names it: a line is ~300 bytes instead of ~2 KB, and a journal of 100,000 patients × 5
 * trials stays in the hundreds of MB. Bounded like the rest, so a hand-edited journal cannot bring back what a
 * job would not write.
 */
const ID_MAX = 128;
const SERVER_MAX = 2048;
const ISO_MAX = 64;
const id = z.string().min(1).max(ID_MAX);
const text = z.string().max(2048);
const iso = z.string().min(1).max(ISO_MAX);
const DIGEST = /^[0-9a-f]{16,64}$/;
const digest = z.string().regex(DIGEST);

/** The statuses and reasons a screening line may hold, in a fixed order (the store packs their index). */
export const SCREENING_STATUSES = ['likely-eligible', 'possibly-eligible', 'ineligible'] as const satisfies readonly TrialStatus[];
export const SCREENING_REASONS = [
  'not-screened', 'inclusion-not-met', 'exclusion-met', 'prior-positive', 'exclusion-finding', 'data-missing', 'judgement-open', 'no-exclusion-found',
] as const satisfies readonly StatusReasonCode[];

export const outcomesEntry = z.strictObject({
  t: z.literal('outcomes'),
  v: digest,
  criteria: z.array(z.tuple([id, z.enum(['met', 'not-met', 'unknown', 'review'])])).max(512),
  openItems: z.array(id).max(512),
  openItemText: z.array(text).max(512),
});

export const screeningLine = z.strictObject({
  t: z.literal('screening'),
  trialId: id,
  patientId: id,
  fhirServer: z.string().min(1).max(SERVER_MAX),
  jobId: id,
  status: z.enum(SCREENING_STATUSES),
  statusReason: z.enum(SCREENING_REASONS),
  v: digest,
  lastDataSeen: iso.optional(),
  dataDigest: z.string().min(1).max(ID_MAX),
  screenedAt: iso,
  isNew: z.boolean(),
});

export const stateLine = z.strictObject({
  t: z.literal('state'),
  fhirServer: z.string().min(1).max(2048),
  trialId: id,
  patientId: id,
  state: z.enum(PATIENT_STATES),
  issuer: z.string().min(1).max(2048),
  subject: z.string().min(1).max(2048),
  setAt: iso,
});

export const offerLine = z.strictObject({
  t: z.literal('offer'),
  suggestion: z.uuid(),
  fhirServer: z.string().min(1).max(2048),
  trialId: id,
  patientId: id,
  offeredAt: iso,
});

export const screeningJournalEntry = z.discriminatedUnion('t', [outcomesEntry, screeningLine, stateLine, offerLine]);

export type OutcomesEntry = z.infer<typeof outcomesEntry>;
export type ScreeningLine = z.infer<typeof screeningLine>;
export type StateLine = z.infer<typeof stateLine>;
export type OfferLine = z.infer<typeof offerLine>;

const STATUS_SET: ReadonlySet<unknown> = new Set(SCREENING_STATUSES);
const REASON_SET: ReadonlySet<unknown> = new Set(SCREENING_REASONS);
/** Every key a screening line may have; `lastDataSeen` is the only optional one. */
const SCREENING_KEYS = 12;

function isText(x: unknown, max: number): x is string {
  return typeof x === 'string' && x.length >= 1 && x.length <= max;
}

/**
 * The check `screeningLine` makes, written out for the journal's hottest line (500,000 of them for 100,000
 * patients): start-up read them back through zod at 6.5 to 8.9 s. The same rules (test/store/screening-line.test.ts
 * holds the two to the same answers); undefined when the value is not a screening line.
 */
export function readScreeningLine(raw: unknown): ScreeningLine | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const l = raw as Record<string, unknown>;
  let keys = 0;
  // for…in over a JSON.parse result: own enumerable keys only (it has no prototype keys to walk).
  for (const _k in l) keys++;
  const optional = l.lastDataSeen === undefined ? 0 : 1;
  if (keys !== SCREENING_KEYS - 1 + optional || ('lastDataSeen' in l && optional === 0)) return undefined;
  if (
    l.t !== 'screening' ||
    !isText(l.trialId, ID_MAX) ||
    !isText(l.patientId, ID_MAX) ||
    !isText(l.fhirServer, SERVER_MAX) ||
    !isText(l.jobId, ID_MAX) ||
    !STATUS_SET.has(l.status) ||
    !REASON_SET.has(l.statusReason) ||
    typeof l.v !== 'string' ||
    !DIGEST.test(l.v) ||
    (optional === 1 && !isText(l.lastDataSeen, ISO_MAX)) ||
    !isText(l.dataDigest, ID_MAX) ||
    !isText(l.screenedAt, ISO_MAX) ||
    typeof l.isNew !== 'boolean'
  ) {
    return undefined;
  }
  return l as ScreeningLine;
}
