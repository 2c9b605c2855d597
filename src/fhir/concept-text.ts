import type { CodeableConcept } from '@medplum/fhirtypes';

/** The words a clinician reads for a concept: its text, else the first coding that has a display. */
export function conceptText(concept: CodeableConcept | undefined): string | undefined {
  return concept?.text ?? concept?.coding?.find((c) => c.display)?.display;
}
