import type { CodeableConcept } from '@medplum/fhirtypes';
import type { ClinicalResource, ClinicalType } from '../patient/patient-record.js';
import { TEXT_LIMITS, boundedText } from '../fhir/bounded-text.js';
import type { EvalContext } from './context.js';

/**
 * Record items the service cannot place (issue #17 item 4; PatientRecord.unplaced says which): what they are
 * cannot be read from a code, so they are never evidence of absence. A part whose "not met" would hide a
 * trial reads them as `unknown`, shown; one whose list names them in words sends them to review.
 */
export function unplacedItems(ctx: EvalContext, types: readonly ClinicalType[]): ClinicalResource[] {
  return types.flatMap((t) => ctx.record.unplaced.get(t) ?? []);
}

/** Why an item's code cannot be placed, for its evidence note. */
export function whyUnplaced(concept: CodeableConcept | undefined): string {
  const codings = Array.isArray(concept?.coding) ? concept.coding : [];
  const systems = [...new Set(codings.map((c) => boundedText(c.system, TEXT_LIMITS.display)).filter((s): s is string => !!s))];
  if (systems.length > 0) return `coded only in ${systems.join(', ')}, a system no code list of the service uses`;
  return concept?.text ? 'text only, no code' : 'no code and no text';
}
