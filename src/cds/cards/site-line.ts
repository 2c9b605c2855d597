import type { TrialAvailability } from '../../trials/site-info.js';
import { contactLine } from '../../trials/site-info.js';
import { escapeMd } from './text.js';

/**
 * The card's line about the trial at this site (issue #19 item 3): whom to contact, and a registry status
 * that may be stale (not verified in 12 months, or undated). Says nothing of the patient.
 */
export function siteLineOf(a: TrialAvailability | undefined): string | undefined {
  if (!a) return undefined;
  const parts: string[] = [];
  if (a.contact) parts.push(`**Study contact:** ${escapeMd(contactLine(a.contact))}.`);
  // No date here: every date on a card is the patient's, traced to the evidence (safety rule 4); the registry's
  // date is in the apps and the ResearchStudy.
  if (a.registry.stale) parts.push('Registry status possibly stale (not verified in 12 months).');
  return parts.length > 0 ? parts.join(' ') : undefined;
}
