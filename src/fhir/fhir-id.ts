import { z } from 'zod';

/**
 * A FHIR resource id (FHIR R4 Datatypes, `id`): 1 to 64 ASCII letters, digits, '-' and '.'. A patient id
 * outside it is refused before it reaches a search URL or a prefetch template.
 */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** The patient id of a hook context or of a request naming a patient on a FHIR server. */
export const patientIdSchema = z.string().regex(FHIR_ID, 'patientId must be a FHIR id');
