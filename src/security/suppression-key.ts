import { createHmac } from 'node:crypto';
import { normalizeFhirBase } from '../fhir/fhir-base-url.js';

export interface SuppressionSubject {
  issuer: string;
  /** The EHR's FHIR server, when the hook named one: the same patient id on two servers is two patients. */
  fhirServer?: string | undefined;
  patientId: string;
  trialId: string;
}

/**
 * The key a suppression is stored under (issue #12 item 3): HMAC-SHA256(secret, issuer \0 fhirServer-or-'' \0
 * patientId \0 trialId), hex. Keyed, so the stores hold no patient id and a key cannot be recomputed from a
 * guessed id without the secret; NUL-separated, so no two subjects share the joined text. The FHIR server is
 * normalised first (issue #20 item 4): `https://ehr.example/fhir/` and `https://EHR.example/fhir` are one server,
 * so a trailing slash cannot bring a suppressed card back.
 */
export function suppressionKey(secret: string, s: SuppressionSubject): string {
  return createHmac('sha256', secret)
    .update([s.issuer, s.fhirServer ? (normalizeFhirBase(s.fhirServer) ?? s.fhirServer) : '', s.patientId, s.trialId].join('\u0000'))
    .digest('hex');
}
