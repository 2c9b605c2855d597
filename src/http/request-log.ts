import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * What the route has to say about the request (ids, counts, outcomes, durations: never patient data or
     * tokens, house rule 8), written in the request's one log line when the answer has gone.
     */
    logLine: { message: string; fields: Record<string, unknown> } | undefined;
  }
}

/**
 * One log line per request (issue #21 item 5): fastify's own "incoming request" and "request completed" lines
 * are off (app.ts disableRequestLogging), and this line carries the route's summary with the status and the
 * time, so a hook writes one line instead of three. Each pino line costs a serialisation and a write(2).
 */
export function registerRequestLog(app: FastifyInstance): void {
  app.decorateRequest('logLine', undefined);
  app.addHook('onResponse', async (request, reply) => {
    const line = request.logLine;
    // `req` through the logger's serializer (src/logger.ts): method, route pattern and id only.
    request.log.info({ req: request, status: reply.statusCode, ms: Math.round(reply.elapsedTime), ...line?.fields }, line?.message ?? 'request completed');
  });
}
