import { z } from 'zod';
import { MAX_REASON_CODE_LENGTH } from '../judge-feedback.js';
import { SITE_STATUSES, SITE_STATUS_REASON_MAX } from '../../trials/site-info.js';
import { AUDIT_FIELD_MAX } from './audit-file.js';

/**
 * The lines of the embedded journal. Bounded like the requests they come from, so a hand-edited or corrupt
 * journal cannot bring back what the API refuses. The clinician's comment is never a field: it can carry
 * patient data.
 */
const id = z.string().min(1).max(128);
const code = z.string().min(1).max(MAX_REASON_CODE_LENGTH);
/** An issuer (`iss`, a URL) as the audit trail bounds it; absent on lines written before issue #20 item 4. */
const issuer = z.string().min(1).max(1024);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const cardEntry = z.strictObject({
  t: z.literal('card'),
  card: z.uuid(),
  trialId: id,
  /** Absent on lines written before reasons were remembered: any bounded reason is then accepted. */
  reasons: z.array(code).max(32).optional(),
  key: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  suggestions: z.array(id).max(32).optional(),
  /** The issuer shown the card (issue #20 item 4): only its feedback is taken. Absent: no issuer's is. */
  iss: issuer.optional(),
  /** The card's patient, for the feedback audit event (issue #20 item 5). */
  patient: id.optional(),
});

export const feedbackEntry = z.strictObject({
  t: z.literal('feedback'),
  service: id,
  card: z.uuid(),
  trialId: id,
  outcome: z.enum(['accepted', 'overridden']),
  reason: code.optional(),
  suggestions: z.array(id).max(32).optional(),
  outcomeTimestamp: z.string().min(1).max(64),
  receivedAt: z.string().min(1).max(64),
  /** The issuer it is counted under (issue #20 item 4); absent on older lines, counted under no issuer. */
  iss: issuer.optional(),
});

/**
 * Feedback folded by compaction (issue #20 item 4): one issuer's counts for one trial, for the items whose
 * lines are no longer kept (their card forgotten, or older than FEEDBACK_RETENTION_DAYS).
 */
export const countsEntry = z.strictObject({
  t: z.literal('counts'),
  iss: issuer.optional(),
  trialId: id,
  accepted: count,
  overridden: count,
  reasons: z.array(z.tuple([code, count])).max(100_000),
});

export const suppressionEntry = z.strictObject({
  t: z.literal('suppression'),
  key: z.string().regex(/^[0-9a-f]{64}$/),
  until: z.iso.datetime({ offset: true }),
  reason: code,
});

/** A coordinator's setting of a trial's status at this site (issue #19 item 3). */
export const siteStatusEntry = z.strictObject({
  t: z.literal('site-status'),
  trialId: id,
  status: z.enum(SITE_STATUSES),
  reason: z.string().min(1).max(SITE_STATUS_REASON_MAX).optional(),
  at: z.iso.datetime({ offset: true }),
  issuer: z.string().min(1).max(AUDIT_FIELD_MAX),
  subject: z.string().min(1).max(AUDIT_FIELD_MAX),
});

export const journalEntry = z.discriminatedUnion('t', [cardEntry, feedbackEntry, suppressionEntry, countsEntry, siteStatusEntry]);

export type CardEntry = z.infer<typeof cardEntry>;
export type FeedbackEntry = z.infer<typeof feedbackEntry>;
export type SuppressionEntry = z.infer<typeof suppressionEntry>;
export type CountsEntry = z.infer<typeof countsEntry>;
export type SiteStatusEntry = z.infer<typeof siteStatusEntry>;
export type JournalEntry = z.infer<typeof journalEntry>;
