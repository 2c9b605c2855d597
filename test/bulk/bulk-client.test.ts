/**
 * The Bulk Data client's limits against a loopback server that misbehaves the ways servers do (Bulk Data
 * Access 2.0 §Bulk Data Status Request): Retry-After bounded both ways, an export past the job timeout
 * cancelled with DELETE, a file past the size cap refused, and the export request read from the mappings.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BulkClient, type BulkClientOptions } from '../../src/bulk/bulk-client.js';
import { exportRequest } from '../../src/bulk/export-request.js';
import { MemoryJobStore } from '../../src/bulk/screening-job.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT } from '../support/app.js';
import { closeServer, listen } from '../support/loopback.js';

let server: Server | undefined;
afterEach(async () => {
  if (server) await closeServer(server);
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, base: string) => void): Promise<string> {
  let base = '';
  server = createServer((req, res) => handler(req, res, base));
  base = `${await listen(server)}/fhir`;
  return base;
}

function client(base: string, options: Partial<BulkClientOptions> = {}, slept: number[] = []): BulkClient {
  return new BulkClient({
    baseUrl: base,
    requestTimeoutMs: 5000,
    minPollMs: 1000,
    maxPollMs: 30_000,
    jobTimeoutMs: 600_000,
    maxFileBytes: 1_000_000,
    sleep: async (ms) => void slept.push(ms),
    ...options,
  });
}

const MANIFEST = { transactionTime: '2026-11-23T09:00:00Z', request: 'x', requiresAccessToken: false, output: [], error: [] };

describe('the Bulk Data client', () => {
  it('waits what Retry-After says, within the bounds, in seconds or as an HTTP date', async () => {
    let polls = 0;
    const base = await serve((_req, res) => {
      polls++;
      if (polls === 1) res.writeHead(202, { 'retry-after': '5' }).end();
      else if (polls === 2) res.writeHead(202, { 'retry-after': '3600' }).end();
      else if (polls === 3) res.writeHead(202, { 'retry-after': '0' }).end();
      else if (polls === 4) res.writeHead(202, { 'retry-after': new Date(Date.now() + 10_000).toUTCString() }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MANIFEST));
    });
    const slept: number[] = [];
    const manifest = await client(base, {}, slept).waitForManifest(`${base}/status`);
    expect(manifest.transactionTime).toBe(MANIFEST.transactionTime);
    expect(slept[0]).toBe(5000);
    expect(slept[1]).toBe(30_000); // an hour asked, the bound kept
    expect(slept[2]).toBe(1000); // no wait asked, the floor kept
    expect(slept[3]).toBeGreaterThan(5000);
    expect(slept[3]).toBeLessThanOrEqual(10_000);
  });

  it('cancels an export still running at the job timeout (DELETE on the status URL)', async () => {
    const methods: string[] = [];
    const base = await serve((req, res) => {
      methods.push(req.method ?? '');
      res.writeHead(202, { 'retry-after': '20' }).end();
    });
    await expect(client(base, { jobTimeoutMs: 15_000 }).waitForManifest(`${base}/status`)).rejects.toThrow(/did not complete within 15 s; cancelled/);
    expect(methods.at(-1)).toBe('DELETE');
  });

  it('fails on an error status with the server\'s diagnostics, after retrying a transient one', async () => {
    let polls = 0;
    const base = await serve((_req, res) => {
      polls++;
      if (polls === 1) res.writeHead(503, { 'retry-after': '2' }).end();
      else res.writeHead(400, { 'content-type': 'application/fhir+json' }).end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'unknown _type Foo' }] }));
    });
    await expect(client(base).waitForManifest(`${base}/status`)).rejects.toThrow(/HTTP 400: unknown _type Foo/);
    expect(polls).toBe(2);
  });

  it('streams a file to disk and refuses one past the size cap', async () => {
    const line = `${JSON.stringify({ resourceType: 'Patient', id: 'p1' })}\n`;
    const base = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/fhir+ndjson' });
      res.end(req.url?.includes('big') ? line.repeat(1000) : line);
    });
    const dir = mkdtempSync(join(tmpdir(), 'bulk-client-'));
    try {
      const got = await client(base).download(`${base}/small`, false, dir, 'a.ndjson');
      expect(readFileSync(got.path, 'utf8')).toBe(line);
      await expect(client(base, { maxFileBytes: 5000 }).download(`${base}/big`, false, dir, 'b.ndjson')).rejects.toThrow(/larger than 5000 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kicks off with _type and _typeFilter in a Parameters body when the URL would be too long, _since an instant', async () => {
    let body: { parameter: { name: string; valueString?: string; valueInstant?: string }[] } | undefined;
    const base = await serve((req, res, b) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        if (req.method === 'POST') body = JSON.parse(text) as typeof body;
        res.writeHead(202, { 'content-location': `${b}/status/9` }).end();
      });
    });
    const { types, typeFilters: real } = exportRequest(loadMappings({ dir: resolve(ROOT, 'fhir-mappings') }));
    // The filters the trials need fit a GET today (bare codes, issue #21 item 4); a site's longer lists would not.
    const typeFilters = [...real, `Procedure?code=${Array.from({ length: 600 }, (_, i) => `local-${i}`).join(',')}`];
    const status = await client(base).kickOff({ scope: { kind: 'group', groupId: 'g1' }, types, typeFilters, since: '2026-11-01T00:00:00Z' });
    expect(status).toBe(`${base}/status/9`);
    expect(body?.parameter.find((p) => p.name === '_since')).toEqual({ name: '_since', valueInstant: '2026-11-01T00:00:00Z' });
    expect(body?.parameter.find((p) => p.name === '_type')?.valueString?.split(',')).toEqual(types);
    expect(body?.parameter.filter((p) => p.name === '_typeFilter').map((p) => p.valueString)).toEqual(typeFilters);
    // Conditions and medications are never filtered (rule 3); Observations by the codes the criteria read, bare
    // (a code in any system: one sent under an OID is exported too), as the hook's prefetch asks.
    expect(real.some((f) => f.startsWith('Condition') || f.startsWith('Medication'))).toBe(false);
    expect(real.find((f) => f.startsWith('Observation?code='))?.split('=')[1]?.split(',')).toContain('718-7');
  });
});

describe('the export request', () => {
  it('filters nothing when the site places local codes of its own (a local code would be filtered away)', () => {
    const mappings = loadMappings({ dir: resolve(ROOT, 'fhir-mappings') });
    const withLocal = { ...mappings, terminology: { ...mappings.terminology, localSources: new Set(['urn:site:lab|HB1']) } };
    expect(exportRequest(withLocal).typeFilters).toEqual([]);
    expect(exportRequest(withLocal).types).toEqual(exportRequest(mappings).types);
  });
});

describe('the embedded job store', () => {
  it('keeps the last export for the next run, and fails a job its process left running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulk-jobs-'));
    const file = join(dir, 'population-jobs.json');
    try {
      const store = new MemoryJobStore(file);
      const at = new Date('2026-11-23T09:00:00Z');
      const base = { fhirServer: 'http://127.0.0.1:8080/fhir', scope: { kind: 'patients' as const }, mode: 'in-process' as const, createdAt: at.toISOString(), updatedAt: at.toISOString() };
      await store.create({ ...base, id: 'a', state: 'queued' });
      await store.update('a', { state: 'completed', transactionTime: '2026-11-23T08:59:00Z' }, at);
      await store.create({ ...base, id: 'b', state: 'screening' });
      const reopened = new MemoryJobStore(file);
      expect((await reopened.lastCompleted(base.fhirServer, base.scope))?.transactionTime).toBe('2026-11-23T08:59:00Z');
      expect(await reopened.get('b')).toMatchObject({ state: 'failed', error: 'the process ended during the job' });
      expect(await reopened.running(base.fhirServer, base.scope)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
