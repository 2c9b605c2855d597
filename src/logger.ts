import type { FastifyServerOptions } from 'fastify';

/**
 * pino through fastify. Requests are logged by method, route and id only (no headers, no body), and the
 * paths that can hold patient data or tokens are redacted wherever they appear (house rule 8).
 */
export function loggerOptions(level: string, stream?: NodeJS.WritableStream): FastifyServerOptions['logger'] {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.authorization',
        '*.token',
        '*.fhirAuthorization',
        '*.access_token',
        '*.prefetch',
        '*.entry',
        'body',
        '*.body',
      ],
      censor: '[redacted]',
    },
    serializers: {
      // The route pattern only: a path can carry ids, and an unmatched path anything the caller typed.
      req: (req: { method: string; routeOptions?: { url?: string }; id: string }) => ({
        method: req.method,
        route: req.routeOptions?.url ?? '(no route)',
        id: req.id,
      }),
      // An evaluation fault is "criterionId: message", and the message can quote a patient's value: ids only.
      faults: (faults: unknown) => (Array.isArray(faults) ? faults.map((f) => String(f).split(':')[0]) : faults),
      // Errors by type and code, with the stack's frames but not its message (it can quote input).
      err: (err: { name?: string; type?: string; code?: string; stack?: string }) => ({
        type: err.type ?? err.name ?? 'Error',
        message: '(not logged)',
        ...(err.code ? { code: err.code } : {}),
        stack: err.stack?.split('\n').filter((line) => line.trimStart().startsWith('at ')).join('\n') ?? '',
      }),
    },
    ...(process.stdout.isTTY && !stream ? { transport: { target: 'pino-pretty' } } : {}),
  };
}
