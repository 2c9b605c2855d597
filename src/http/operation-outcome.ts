import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** An error that carries the HTTP status and the FHIR OperationOutcome to answer with. */
export class OutcomeError extends Error {
  constructor(
    readonly statusCode: number,
    readonly outcome: OperationOutcome,
  ) {
    super(outcome.issue?.[0]?.diagnostics ?? 'error');
    this.name = 'OutcomeError';
  }
}

export function operationOutcome(
  severity: OperationOutcomeIssue['severity'],
  code: OperationOutcomeIssue['code'],
  diagnostics: string,
  expression?: string[],
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression && expression.length > 0) issue.expression = expression;
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

export function badRequest(diagnostics: string, expression?: string[]): OutcomeError {
  return new OutcomeError(400, operationOutcome('error', 'invalid', diagnostics, expression));
}

export function notFound(diagnostics: string): OutcomeError {
  return new OutcomeError(404, operationOutcome('error', 'not-found', diagnostics));
}

/** CDS Hooks: the service cannot get data it needs, from prefetch or from the FHIR server. */
export function preconditionFailed(diagnostics: string, expression?: string[]): OutcomeError {
  return new OutcomeError(412, operationOutcome('error', 'required', diagnostics, expression));
}
