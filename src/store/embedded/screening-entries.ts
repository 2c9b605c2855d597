import { z } from 'zod';
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
const id = z.string().min(1).max(128);
const text = z.string().max(2048);
const iso = z.string().min(1).max(64);
const digest = z.string().regex(/^[0-9a-f]{16,64}$/);

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
  fhirServer: z.string().min(1).max(2048),
  jobId: id,
  status: z.enum(['likely-eligible', 'possibly-eligible', 'ineligible']),
  statusReason: z.enum(['not-screened', 'inclusion-not-met', 'exclusion-met', 'prior-positive', 'exclusion-finding', 'data-missing', 'judgement-open', 'no-exclusion-found']),
  v: digest,
  lastDataSeen: iso.optional(),
  dataDigest: z.string().min(1).max(128),
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

export const screeningJournalEntry = z.discriminatedUnion('t', [outcomesEntry, screeningLine, stateLine]);

export type OutcomesEntry = z.infer<typeof outcomesEntry>;
export type ScreeningLine = z.infer<typeof screeningLine>;
export type StateLine = z.infer<typeof stateLine>;
