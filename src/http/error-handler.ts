import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { OutcomeError, operationOutcome } from './operation-outcome.js';

const FHIR_JSON = 'application/fhir+json';

/**
 * The one error path: every failure becomes a FHIR OperationOutcome with a clear status. Validation and
 * client errors say what is wrong and where (issue.expression); server errors hide their message and are
 * logged with ids only, never with the request body.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof OutcomeError) {
      request.log.info({ status: error.statusCode, code: error.outcome.issue?.[0]?.code }, 'request refused');
      return reply.status(error.statusCode).type(FHIR_JSON).send(error.outcome);
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = (error.validation as { instancePath: string; message?: string }[]).map((v) => {
        const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(body)';
        return { severity: 'error' as const, code: 'invalid' as const, diagnostics: `${path}: ${v.message ?? 'invalid'}`, expression: [path] };
      });
      request.log.info({ status: 400, issues: issues.length }, 'request failed validation');
      return reply.status(400).type(FHIR_JSON).send({ resourceType: 'OperationOutcome', issue: issues });
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // fastify's own client errors: bad JSON, too large, wrong content type.
      const code = status === 413 ? 'too-costly' : status === 415 ? 'not-supported' : 'invalid';
      request.log.info({ status, code: error.code }, 'request refused');
      return reply.status(status).type(FHIR_JSON).send(operationOutcome('error', code, error.message));
    }
    request.log.error({ err: { type: error.name, code: error.code, stack: error.stack } }, 'unexpected error');
    return reply.status(500).type(FHIR_JSON).send(operationOutcome('fatal', 'exception', 'internal error; see the service log'));
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    reply.status(404).type(FHIR_JSON).send(operationOutcome('error', 'not-found', `no route for ${request.method} ${request.url.split('?')[0]}`));
  });
}
