/**
 * One log line per request (issue #21 item 5): a hook wrote three (fastify's "incoming request", the route's
 * "patient-view evaluated", fastify's "request completed"), each a serialisation and a write. Now the
 * route's summary, the status and the time are one line; a refusal is one line too.
 */
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogCapture, exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

const SERVICE = '/cds-services/trialmatch-sle';
const BUNDLE = exampleBundle('sle-child-likely');

describe('the operational log', () => {
  let app: FastifyInstance;
  const log = new LogCapture();
  beforeAll(async () => {
    app = testApp({ logStream: log }, { LOG_LEVEL: 'info' });
    await app.ready();
  });
  afterAll(() => app.close());

  const linesOf = async (request: InjectOptions): Promise<Record<string, any>[]> => {
    const mark = log.lines.length;
    await app.inject(request);
    return log.lines.slice(mark).map((l) => JSON.parse(l) as Record<string, any>);
  };

  it('writes one line for a hook, with the route, the status, the time, the statuses and the sources', async () => {
    const lines = await linesOf({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(BUNDLE), { prefetch: prefetchFor(BUNDLE) }) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'patient-view evaluated',
      req: { method: 'POST', route: '/cds-services/:id' },
      status: 200,
      ms: expect.any(Number),
      service: 'trialmatch-sle',
      sources: expect.arrayContaining([expect.stringMatching(/^observations:prefetch:\d+$/)]),
    });
    expect(Object.keys(lines[0]!.statuses)).toHaveLength(5);
  });

  it('writes one line for a refused request, saying why', async () => {
    const lines = await linesOf({ method: 'POST', url: SERVICE, payload: { hook: 'patient-view' } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'request failed validation', status: 400, req: { route: '/cds-services/:id' } });
  });

  it('writes one line for a plain request', async () => {
    const lines = await linesOf({ method: 'GET', url: '/cds-services' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'request completed', status: 200, req: { method: 'GET', route: '/cds-services' } });
  });
});
