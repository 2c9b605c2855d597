import { getStatus } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import {
  CONTENT_TOO_LARGE_ID,
  OperationOutcomeError,
  SERVICE_UNAVAILABLE_ID,
  UNSUPPORTED_MEDIA_TYPE_ID,
  badRequest,
  contentTooLarge,
  notFound,
  operationOutcome,
  tooManyRequests,
  unsupportedMediaType,
} from '../fhir/outcomes.js';
import { FailureBudget } from '../security/failure-budget.js';

const FHIR_JSON = 'application/fhir+json';

/** The outcomes src/fhir/outcomes.ts adds to medplum's; medplum's getStatus maps the rest (401, 403, 404, 412). */
const STATUS_BEYOND_MEDPLUM: Readonly<Record<string, number>> = {
  [CONTENT_TOO_LARGE_ID]: 413,
  [UNSUPPORTED_MEDIA_TYPE_ID]: 415,
  [SERVICE_UNAVAILABLE_ID]: 503,
};

/** The HTTP status of a refusal, derived in this one place from what the outcome is (medplum's getStatus). */
export function statusOf(outcome: OperationOutcome): number {
  return (outcome.id !== undefined ? STATUS_BEYOND_MEDPLUM[outcome.id] : undefined) ?? getStatus(outcome);
}

/** fastify's own client errors (bad JSON, too large, wrong content type): fastify chose their status. */
function frameworkOutcome(status: number, message: string): OperationOutcome {
  if (status === 413) return contentTooLarge(message).outcome;
  if (status === 415) return unsupportedMediaType(message).outcome;
  return badRequest(message).outcome;
}

/**
 * The one error path: every failure becomes a FHIR OperationOutcome with a clear status. Validation and
 * client errors say what is wrong and where (issue.expression); server errors hide their message and are
 * logged with ids only, never with the request body.
 */
export function registerErrorHandler(app: FastifyInstance, limits: { unknownPathsPerMinute?: number } = {}): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof OperationOutcomeError) {
      const status = statusOf(error.outcome);
      request.logLine = { message: request.logLine?.message ?? 'request refused', fields: { ...request.logLine?.fields, status, code: error.outcome.issue?.[0]?.code } };
      return reply.status(status).type(FHIR_JSON).send(error.outcome);
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = (error.validation as { instancePath: string; message?: string }[]).map((v) => {
        const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(body)';
        return { severity: 'error' as const, code: 'invalid' as const, diagnostics: `${path}: ${v.message ?? 'invalid'}`, expression: [path] };
      });
      request.logLine = { message: request.logLine?.message ?? 'request failed validation', fields: { ...request.logLine?.fields, status: 400, issues: issues.length } };
      return reply.status(400).type(FHIR_JSON).send({ resourceType: 'OperationOutcome', issue: issues });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      request.logLine = { message: request.logLine?.message ?? 'request refused', fields: { ...request.logLine?.fields, status, code: error.code } };
      return reply.status(status).type(FHIR_JSON).send(frameworkOutcome(status, error.message));
    }
    request.log.error({ err: { type: error.name, code: error.code, stack: error.stack } }, 'unexpected error');
    return reply.status(500).type(FHIR_JSON).send(operationOutcome('exception', 'internal error; see the service log', { severity: 'fatal' }));
  });
  const noRoute = (request: FastifyRequest): ReturnType<typeof notFound> => notFound(`no route for ${request.method} ${request.url.split('?')[0]}`);
  // Issue #20 item 1: a path no route serves is answered before its body is read. The not-found handler runs
  // after the body is parsed, and a 10 MiB body nested millions deep blocked the event loop for seconds there.
  // Issue #20 item 1: unknown paths are rate limited too, per client address (the route rate limit runs at
  // preParsing, which a 404 answered here never reaches): past the budget a 429, still before any body is read.
  const unknownPaths = limits.unknownPathsPerMinute ? new FailureBudget(limits.unknownPathsPerMinute) : undefined;
  app.addHook('onRequest', async (request) => {
    if (!request.is404) return;
    if (unknownPaths?.exhausted(`ip:${request.ip}`)) throw tooManyRequests(`more than ${limits.unknownPathsPerMinute} requests a minute for paths this service does not serve from this client`);
    unknownPaths?.fail(`ip:${request.ip}`);
    throw noRoute(request);
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const { outcome } = noRoute(request);
    reply.status(statusOf(outcome)).type(FHIR_JSON).send(outcome);
  });
}
