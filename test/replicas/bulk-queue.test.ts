/**
 * Issue #19 item 1: two service processes share one population job on PostgreSQL through the job queue; one
 * is killed (SIGKILL) in the middle of the job; the other finishes it, and every patient is screened exactly
 * once. The FHIR server is a small Bulk Data Access 2.0 server on loopback serving the example patients, each
 * copied under many ids, as type-split NDJSON files; each file answers after a pause, so the job is still
 * downloading when the replica dies.
 */
import { createServer, type Server } from 'node:http';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { resolve } from 'node:path';
import type { ScreeningJob } from '../../src/bulk/screening-job.js';
import { createDevTokenSigner, devTokenIssuer, type DevTokenSigner } from '../../src/security/dev-token.js';
import { loadTrustConfig } from '../../src/security/trust-config.js';
import { ROOT, exampleBundle, exampleIds } from '../support/app.js';
import { closeServer, freePort, listen } from '../support/loopback.js';
import { createDatabase, startReplica, type Replica } from '../support/replica.js';

const PUBLIC = 'http://cds.replicas.test';
const TRUST = resolve(ROOT, 'config', 'trust.example.json');
const COPIES = 30;
const FILE_DELAY_MS = 1200;
const unavailable = inject('postgresUnavailable');

/** The example patients, each under COPIES ids, as one NDJSON text per resource type, split in two. */
function cohort(): { files: Map<string, { type: string; body: string }>; patients: string[] } {
  const byType = new Map<string, string[]>();
  const patients: string[] = [];
  for (const id of exampleIds()) {
    const text = JSON.stringify(exampleBundle(id));
    for (let k = 0; k < COPIES; k++) {
      const copy = JSON.parse(text.replaceAll(id, `${id}-r${k}`)) as Bundle;
      patients.push(`${id}-r${k}`);
      for (const e of copy.entry ?? []) {
        const r = e.resource as Resource;
        const lines = byType.get(r.resourceType) ?? [];
        lines.push(JSON.stringify(r));
        byType.set(r.resourceType, lines);
      }
    }
  }
  const files = new Map<string, { type: string; body: string }>();
  for (const [type, lines] of byType) {
    const half = Math.ceil(lines.length / 2);
    files.set(`${type}-1`, { type, body: `${lines.slice(0, half).join('\n')}\n` });
    if (lines.length > half) files.set(`${type}-2`, { type, body: `${lines.slice(half).join('\n')}\n` });
  }
  return { files, patients };
}

/** Kick-off (202 + status URL), status (the manifest at once) and the files (each after FILE_DELAY_MS). */
async function startBulkServer(files: Map<string, { type: string; body: string }>): Promise<{ base: string; server: Server; kickOffs: () => number }> {
  let kickOffs = 0;
  let base = '';
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/fhir/Patient/$export') {
      kickOffs++;
      req.resume();
      res.writeHead(202, { 'content-location': `${base}/status/1` }).end();
      return;
    }
    if (url.pathname === '/fhir/status/1' && req.method === 'GET') {
      const output = [...files].map(([name, f]) => ({ type: f.type, url: `${base}/files/${name}` }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ transactionTime: '2026-11-23T09:00:00Z', request: `${base}/Patient/$export`, requiresAccessToken: false, output, error: [] }));
      return;
    }
    if (url.pathname === '/fhir/status/1' && req.method === 'DELETE') {
      res.writeHead(202).end();
      return;
    }
    const file = url.pathname.startsWith('/fhir/files/') ? files.get(url.pathname.slice('/fhir/files/'.length)) : undefined;
    if (file) {
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/fhir+ndjson' }).end(file.body), FILE_DELAY_MS);
      return;
    }
    res.writeHead(404).end();
  });
  base = `${await listen(server)}/fhir`;
  return { base, server, kickOffs: () => kickOffs };
}

describe.skipIf(unavailable !== '')(`a population job shared by two replicas on one PostgreSQL${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  const { files, patients } = cohort();
  let databaseUrl: string;
  let a: Replica;
  let b: Replica;
  let signer: DevTokenSigner;
  let bulk: Awaited<ReturnType<typeof startBulkServer>>;

  beforeAll(async () => {
    databaseUrl = await createDatabase(inject('postgresUrl'), `bulk_replicas_${process.pid}`);
    const env = {
      DATABASE_URL: databaseUrl,
      TRUST_CONFIG: TRUST,
      DEV_TRUST: '1',
      PUBLIC_BASE_URL: PUBLIC,
      SUPPRESSION_SECRET: 'replica-test-secret-0123456789abcdef',
      AUTH_MODE: 'on',
      BULK_BUCKETS: '8',
      BULK_CHUNK_EXPIRE_SECONDS: '20',
      BULK_CHUNK_RETRIES: '3',
      BULK_QUEUE_POLL_SECONDS: '1',
    };
    const issuer = devTokenIssuer(loadTrustConfig(TRUST).issuers);
    if (!issuer) throw new Error(`${TRUST} has no development issuer`);
    signer = createDevTokenSigner(issuer);
    bulk = await startBulkServer(files);
    [a, b] = await Promise.all([startReplica('a', await freePort(), env), startReplica('b', await freePort(), env)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop('SIGKILL'), b?.stop()]);
    if (bulk) await closeServer(bulk.server);
  });

  const call = async (replica: Replica, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${replica.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await signer.sign(`${PUBLIC}${path}`)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };

  it('finishes the job on the surviving replica after the other is killed mid-job, each patient screened once', async () => {
    const started = await call(a, 'POST', '/population/jobs', { fhirServer: bulk.base });
    expect(started.status, JSON.stringify(started.json)).toBe(202);
    const job = started.json as ScreeningJob;
    expect(job.mode).toBe('queue');
    // Wait until both replicas are downloading files (each takes FILE_DELAY_MS), then kill one.
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      for (const deadline = Date.now() + 60_000; ; ) {
        const { rows } = await db.query<{ n: string }>("select count(*) as n from pgboss.job where name = 'population-file' and state = 'active'");
        if (Number(rows[0]!.n) >= 2) break;
        if (Date.now() > deadline) throw new Error('the file chunks never ran on two replicas');
        await new Promise((r) => setTimeout(r, 100));
      }
      await a.stop('SIGKILL');
      let state: ScreeningJob | undefined;
      for (const deadline = Date.now() + 150_000; Date.now() < deadline; ) {
        state = (await call(b, 'GET', `/population/jobs/${job.id}`)).json as ScreeningJob;
        if (state.state === 'completed' || state.state === 'failed') break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(state?.state, JSON.stringify(state)).toBe('completed');
      // Each patient once in the job's count, whoever screened it; one kick-off (the export chunk ran once).
      expect(state!.summary!.patients).toBe(patients.length);
      expect(state!.summary!.screened + state!.summary!.unchanged).toBe(patients.length);
      expect(bulk.kickOffs()).toBe(1);
      // One entry per patient and trial, all from this job; no staged resource left behind.
      const { rows } = await db.query<{ patient_id: string; n: string }>('select patient_id, count(*) as n from screening_results where job_id = $1 group by patient_id', [job.id]);
      expect(rows.map((r) => r.patient_id).sort()).toEqual([...patients].sort());
      const trials = (await call(b, 'GET', '/trials')).json.trials.length as number;
      expect(new Set(rows.map((r) => Number(r.n)))).toEqual(new Set([trials]));
      // A replica keeps its screening threads across the job's buckets, started once as of one instant: the
      // 8 buckets' entries carry one screening time per replica that screened, not one per bucket.
      const instants = await db.query<{ n: string }>('select count(distinct screened_at) as n from screening_results where job_id = $1', [job.id]);
      expect(Number(instants.rows[0]!.n)).toBeLessThanOrEqual(2);
      const staged = await db.query<{ n: string }>('select count(*) as n from population_staging');
      expect(Number(staged.rows[0]!.n)).toBe(0);
      // The killed replica's chunk went to the other: some file chunk was retried.
      const retried = await db.query<{ n: string }>("select count(*) as n from pgboss.job where name like 'population-%' and retry_count > 0");
      expect(Number(retried.rows[0]!.n)).toBeGreaterThan(0);
    } finally {
      await db.end();
    }
  });
});
