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
      req: (req: { method: string; routeOptions?: { url?: string }; url: string; id: string }) => ({
        method: req.method,
        route: req.routeOptions?.url ?? req.url.split('?')[0],
        id: req.id,
      }),
    },
    ...(process.stdout.isTTY && !stream ? { transport: { target: 'pino-pretty' } } : {}),
  };
}
