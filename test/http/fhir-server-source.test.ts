import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrefetchKey } from '../../src/data/prefetch-key.js';
import { FhirServerSource } from '../../src/data/fhir-server-source.js';

const KEY: PrefetchKey = { key: 'observations', template: 'Observation?patient={{context.patientId}}', resourceType: 'Observation' };

const observation = (id: string) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'x' } });

/** A FHIR server with 3 Observations on the first page and 3 more behind its `next` link. */
function startServer(): Promise<Server> {
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const second = (req.url ?? '').includes('page=2');
    const ids = second ? ['d', 'e', 'f'] : ['a', 'b', 'c'];
    res.setHeader('content-type', 'application/fhir+json');
    res.end(
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'searchset',
        ...(second ? {} : { link: [{ relation: 'next', url: `${base}/fhir/Observation?page=2` }] }),
        entry: ids.map((id) => ({ resource: observation(id) })),
      }),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('the FHIR client\'s per-search resource cap (FHIR_MAX_RESOURCES)', () => {
  let server: Server;
  let baseUrl: string;
  beforeAll(async () => {
    server = await startServer();
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const read = (maxResources: number) =>
    new FhirServerSource({ baseUrl, context: { patientId: 'p' }, timeoutMs: 2000, maxPages: 10, maxResources }).get(KEY);

  it('refuses a first page that already holds more than the cap', async () => {
    expect(await read(2)).toEqual({ ok: false, reason: expect.stringMatching(/more than 2 resources$/) });
  });

  it('refuses once a later page takes the total over the cap', async () => {
    expect(await read(4)).toEqual({ ok: false, reason: expect.stringMatching(/more than 4 resources$/) });
  });

  it('reads every page while the total stays within the cap', async () => {
    const result = await read(6);
    expect(result).toMatchObject({ ok: true, pages: 2 });
    expect(result.ok && result.resources.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });
});
