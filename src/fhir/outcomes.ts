import {
  OperationOutcomeError,
  conflict as medplumConflict,
  forbidden as medplumForbidden,
  notFound as medplumNotFound,
  preconditionFailed as medplumPreconditionFailed,
  tooManyRequests as medplumTooManyRequests,
  unauthorized as medplumUnauthorized,
} from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * Refusals as data (FHIR R4 OperationOutcome), after medplum's packages/core/src/outcomes.ts: whoever refuses
 * throws an OperationOutcomeError carrying the outcome and never chooses an HTTP status; the one error
 * handler (src/http/error-handler.ts) derives the status from the outcome's id with medplum's getStatus.
 * Any layer may import this module; it imports nothing of the project.
 *
 * The outcomes are built here rather than taken from medplum as they are: medplum puts the message in
 * `issue.details.text`, while this service has always answered with `issue.diagnostics` (the demo page and
 * EHR integrations read it), and uses more precise issue codes (`required` for a 412, `too-costly` for a 413).
 * The ids are medplum's where medplum has the outcome, so its getStatus maps them.
 */
export { OperationOutcomeError };

/** Outcome ids medplum's getStatus does not know; src/http/error-handler.ts maps them. */
export const CONTENT_TOO_LARGE_ID = 'content-too-large';
export const UNSUPPORTED_MEDIA_TYPE_ID = 'unsupported-media-type';
export const SERVICE_UNAVAILABLE_ID = 'service-unavailable';

export interface OutcomeOptions {
  /** What the outcome is, in medplum's terms (its getStatus reads it); none for a plain 400. */
  id?: string;
  severity?: OperationOutcomeIssue['severity'];
  /** FHIRPath-like paths of the offending elements (issue.expression). */
  expression?: readonly string[];
}

/** An OperationOutcome of one issue. */
export function operationOutcome(code: OperationOutcomeIssue['code'], diagnostics: string, options: OutcomeOptions = {}): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity: options.severity ?? 'error', code, diagnostics };
  if (options.expression && options.expression.length > 0) issue.expression = [...options.expression];
  const outcome: OperationOutcome = { resourceType: 'OperationOutcome', issue: [issue] };
  if (options.id) outcome.id = options.id;
  return outcome;
}

function refusal(code: OperationOutcomeIssue['code'], diagnostics: string, options: OutcomeOptions): OperationOutcomeError {
  return new OperationOutcomeError(operationOutcome(code, diagnostics, options));
}

/** The request is not valid (400). */
export function badRequest(diagnostics: string, expression?: readonly string[]): OperationOutcomeError {
  return refusal('invalid', diagnostics, expression ? { expression } : {});
}

/** The client could not be authenticated (401): no token, or one that is not valid. */
export function unauthorized(diagnostics: string, code: 'login' | 'security' | 'expired' = 'security'): OperationOutcomeError {
  return refusal(code, diagnostics, { id: medplumUnauthorized.id });
}

/** The client may not do this (403). */
export function forbidden(diagnostics: string, expression?: readonly string[]): OperationOutcomeError {
  return refusal('forbidden', diagnostics, { id: medplumForbidden.id, ...(expression ? { expression } : {}) });
}

/** The request conflicts with the current state (409), e.g. a population job already running for that server. */
export function conflict(diagnostics: string): OperationOutcomeError {
  return refusal('conflict', diagnostics, { id: medplumConflict('').id });
}

export function notFound(diagnostics: string): OperationOutcomeError {
  return refusal('not-found', diagnostics, { id: medplumNotFound.id });
}

/** CDS Hooks 2.0 §Prefetch: the service cannot get data it needs, from prefetch or from the FHIR server (412). */
export function preconditionFailed(diagnostics: string, expression?: readonly string[]): OperationOutcomeError {
  return refusal('required', diagnostics, { id: medplumPreconditionFailed.id, ...(expression ? { expression } : {}) });
}

/** The call carries more than the service accepts (413, RFC 9110 §15.5.14). */
export function contentTooLarge(diagnostics: string): OperationOutcomeError {
  return refusal('too-costly', diagnostics, { id: CONTENT_TOO_LARGE_ID });
}

/** The body is in a format the service does not read (415). */
export function unsupportedMediaType(diagnostics: string): OperationOutcomeError {
  return refusal('not-supported', diagnostics, { id: UNSUPPORTED_MEDIA_TYPE_ID });
}

/** The service cannot answer now; the same call may succeed later (503). */
export function serviceUnavailable(diagnostics: string): OperationOutcomeError {
  return refusal('transient', diagnostics, { id: SERVICE_UNAVAILABLE_ID });
}

/** The client has sent more than its share (429, RFC 6585 §4); it may retry after the window. */
export function tooManyRequests(diagnostics: string): OperationOutcomeError {
  return refusal('throttled', diagnostics, { id: medplumTooManyRequests.id });
}
