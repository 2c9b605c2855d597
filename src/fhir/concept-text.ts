import type { CodeableConcept } from '@medplum/fhirtypes';
import { TEXT_LIMITS, boundedText } from './bounded-text.js';

/** The words a clinician reads for a concept: its text, else the first coding that has a display. */
export function conceptText(concept: CodeableConcept | undefined): string | undefined {
  return concept?.text ?? concept?.coding?.find((c) => c.display)?.display;
}

/**
 * Every phrase the concept gives (its text and each coding's display), joined, for reading by name or by
 * word (a drug, a route, a dose form); each piece within TEXT_LIMITS.display (a longer one is not what the
 * field holds, and is not read).
 */
export function conceptPhrases(concept: CodeableConcept | undefined): string {
  const codings = Array.isArray(concept?.coding) ? concept.coding : [];
  return [concept?.text, ...codings.map((c) => c.display)]
    .map((t) => boundedText(t, TEXT_LIMITS.display))
    .filter((t): t is string => t !== undefined && t.trim() !== '')
    .join(' ');
}

/** conceptPhrases in lower case, as the code lists' `names` are matched. */
export function conceptWords(concept: CodeableConcept | undefined): string {
  return conceptPhrases(concept).toLowerCase();
}
