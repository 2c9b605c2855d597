import { z } from 'zod';

/**
 * A trial's status in its public registry (issue #19 item 3), with the date it was last verified. The codes
 * are ClinicalTrials.gov's (API v2, `protocolSection.statusModule.overallStatus`, enum `Status`:
 * https://clinicaltrials.gov/data-api/about-api/study-data-structure#enum-Status), so a record a site drops
 * in (src/trials/ctgov-record.ts) and the protocol documents' printed words land on one scale.
 */
export const REGISTRY_STATUSES = [
  'RECRUITING',
  'NOT_YET_RECRUITING',
  'ENROLLING_BY_INVITATION',
  'ACTIVE_NOT_RECRUITING',
  'SUSPENDED',
  'TERMINATED',
  'COMPLETED',
  'WITHDRAWN',
  'UNKNOWN',
  'AVAILABLE',
  'NO_LONGER_AVAILABLE',
  'TEMPORARILY_NOT_AVAILABLE',
  'APPROVED_FOR_MARKETING',
  'WITHHELD',
] as const;
export type RegistryOverallStatus = (typeof REGISTRY_STATUSES)[number];

/**
 * Open to new participants: recruiting, or enrolling by invitation (the study team invites; a referral
 * still reaches it). UNKNOWN is ClinicalTrials.gov's "status not verified in more than 2 years": not a
 * statement that the trial is closed, so it does not hide a card; it is shown as possibly stale.
 */
const OPEN: ReadonlySet<RegistryOverallStatus> = new Set(['RECRUITING', 'ENROLLING_BY_INVITATION', 'UNKNOWN']);

export function registryOpen(status: RegistryOverallStatus): boolean {
  return OPEN.has(status);
}

/** The registry status in words, as ClinicalTrials.gov shows it ("Not yet recruiting"). */
export function registryStatusText(status: RegistryOverallStatus): string {
  const words = status.toLowerCase().replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const isoDate = z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/, { message: 'a date as YYYY-MM-DD, or YYYY-MM as ClinicalTrials.gov gives statusVerifiedDate' });

/**
 * In a trial file (fhir-mappings/trials/<id>.json): the status as the protocol document prints it, the code
 * it is read as, and the date the document says it was current ("Current as of November 14, 2025"), quoted
 * so a test can find both in the document. A document with no date gives `asOfNote` instead: the status is
 * then shown as possibly stale.
 */
export const registryStatusSchema = z
  .strictObject({
    status: z.enum(REGISTRY_STATUSES),
    /** The status as the document prints it ("Not yet recruiting", "Enrolling"). */
    asPrinted: z.string().min(1),
    /** How the printed words were read, when they are not ClinicalTrials.gov's own. */
    interpretation: z.string().min(10).optional(),
    /** The date the status was current or verified (YYYY-MM-DD or YYYY-MM). */
    asOf: isoDate.optional(),
    /** The document's words for that date, verbatim. */
    asOfQuote: z.string().min(4).optional(),
    /** Why there is no date. */
    asOfNote: z.string().min(10).optional(),
  })
  .refine((r) => (r.asOf === undefined) === (r.asOfQuote === undefined), { message: 'give asOf with the document\'s words for it (asOfQuote)', path: ['asOfQuote'] })
  .refine((r) => (r.asOf === undefined) !== (r.asOfNote === undefined), { message: 'give either asOf (with asOfQuote) or asOfNote (why the document gives no date)', path: ['asOf'] });

export type RegistryStatusInput = z.infer<typeof registryStatusSchema>;

/** A registry status as the service holds it: from the trial file or from a site's ClinicalTrials.gov record. */
export interface RegistryStatus {
  status: RegistryOverallStatus;
  asPrinted: string;
  asOf?: string;
  /** Where it was read: the protocol document, or the ClinicalTrials.gov record a site dropped in. */
  source: string;
  /** The registry's last update of the record (lastUpdatePostDateStruct.date), when known. */
  lastUpdate?: string;
}

/** Issue #19 item 3: a status not verified in 12 months is shown as possibly stale (Jones, BMJ Open 2017). */
export const STALE_AFTER_MONTHS = 12;

/**
 * The first day the as-of date can mean ("2025-11" is 2025-11-01): a month-precision date is read at its
 * earliest, so a status is called possibly stale as soon as it may be (a warning, never a reason to hide).
 */
function earliestDay(asOf: string): Date {
  return new Date(`${asOf.length === 7 ? `${asOf}-01` : asOf}T00:00:00Z`);
}

/** Possibly stale: no date at all, or the date is more than 12 months before `now`. */
export function registryStale(r: Pick<RegistryStatus, 'asOf'>, now: Date): boolean {
  if (r.asOf === undefined) return true;
  const limit = earliestDay(r.asOf);
  limit.setUTCMonth(limit.getUTCMonth() + STALE_AFTER_MONTHS);
  return limit.getTime() < now.getTime();
}

/** "2025-11-14" before "2025-12": compares two as-of dates at their earliest day; undefined is oldest. */
export function newerAsOf(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined) return false;
  if (b === undefined) return true;
  return earliestDay(a).getTime() >= earliestDay(b).getTime();
}
