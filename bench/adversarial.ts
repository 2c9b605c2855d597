/**
 * The worst request time under the adversarial record data of issue #12 item 2 (test/support/adversarial.ts:
 * a 135 KiB valueString of spaces then "x", 64 KB UCUM units, huge displays, deep nesting), each sent through
 * the real app (app.inject) on the hook and $evaluate paths, with /healthz timed after each.
 *
 * And the worst /healthz latency while adversarial JSON bodies arrive (issue #20 item 1: deep nesting, one object
 * of many keys, many small values, a long string; 9 MiB each, within the body limit), from a caller without a
 * token, to a path no route serves, and from a trusted EHR, the service in its own process with authentication
 * on and /healthz timed from a worker thread.
 *
 *   npx tsx bench/adversarial.ts            # prints both tables and the worst times
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ADVERSARIAL_KINDS, adversarialBundle } from '../test/support/adversarial.js';
import { hookRequest, patientIdOf, prefetchFor } from '../test/support/hook-request.js';
import { ADVERSARIAL_JSON_KINDS, adversarialJson } from '../test/support/adversarial-json.js';
import { pollHealthz, postBody } from '../test/support/healthz-probe.js';
import { freePort } from '../test/support/loopback.js';
import { startReplica } from '../test/support/replica.js';
import { makeIssuer, writeTrust } from '../test/security/helpers.js';

export interface AdversarialResult {
  rows: { kind: string; path: string; status: number; ms: number; healthzMs: number }[];
  worstMs: number;
}

export async function runAdversarialBench(): Promise<AdversarialResult> {
  const config = loadConfig({ LOG_LEVEL: 'silent', AUTH_MODE: 'off', DEV_TRUST: '1', RATE_LIMIT: 'off', FEEDBACK_FILE: join(mkdtempSync(join(tmpdir(), 'trialmatch-adv-')), 'f.jsonl') });
  const app = buildApp({ config });
  await app.ready();
  const rows: AdversarialResult['rows'] = [];
  try {
    for (const kind of ADVERSARIAL_KINDS) {
      for (const path of ['hook', 'evaluate'] as const) {
        const bundle = adversarialBundle(kind);
        const body = JSON.stringify(path === 'hook' ? hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) : bundle);
        const t0 = performance.now();
        const res = await app.inject({ method: 'POST', url: path === 'hook' ? '/cds-services/trialmatch-sle' : '/trials/$evaluate', payload: body, headers: { 'content-type': 'application/json' } });
        const ms = performance.now() - t0;
        const t1 = performance.now();
        await app.inject({ method: 'GET', url: '/healthz' });
        rows.push({ kind, path, status: res.statusCode, ms, healthzMs: performance.now() - t1 });
      }
    }
  } finally {
    await app.close();
  }
  return { rows, worstMs: Math.max(...rows.map((r) => r.ms)) };
}

export interface AdversarialBodiesResult {
  rows: { kind: string; caller: string; bytes: number; status: number; healthzWorstMs: number; healthzCalls: number }[];
  /** The slowest /healthz answer while any of the bodies arrived. */
  worstHealthzMs: number;
  /** The slowest /healthz answer over one idle second just before: the machine's own noise. */
  idleHealthzMs: number;
}

const BODY_BYTES = 9 * 1024 * 1024;

export async function runAdversarialBodiesBench(): Promise<AdversarialBodiesResult> {
  const hook = '/cds-services/trialmatch-sle';
  const base = 'http://cds.bench';
  const ehr = await makeIssuer('https://ehr.bench.example.org');
  const dir = mkdtempSync(join(tmpdir(), 'trialmatch-adv-json-'));
  const service = await startReplica('bench', await freePort(), {
    AUTH_MODE: 'on',
    TRUST_CONFIG: writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } }] }),
    PUBLIC_BASE_URL: base,
    FEEDBACK_FILE: join(dir, 'f.jsonl'),
    RATE_LIMIT: 'off',
  });
  const rows: AdversarialBodiesResult['rows'] = [];
  let idleHealthzMs = 0;
  try {
    const token = async (): Promise<string> => `Bearer ${await ehr.sign({ aud: `${base}${hook}` })}`;
    await postBody(service.url, hook, Buffer.from('{}'), { authorization: await token() });
    idleHealthzMs = (await pollHealthz(service.url, new Promise((r) => setTimeout(r, 1000)))).worst;
    const callers: [string, string, () => Promise<Record<string, string>>][] = [
      ['no token', hook, async () => ({})],
      ['unknown path', '/nope', async () => ({})],
      ['trusted EHR', hook, async () => ({ authorization: await token() })],
    ];
    for (const kind of ADVERSARIAL_JSON_KINDS) {
      const body = adversarialJson(kind, BODY_BYTES);
      for (const [caller, path, headers] of callers) {
        const sent = postBody(service.url, path, body, await headers());
        const { worst, calls } = await pollHealthz(service.url, sent);
        rows.push({ kind, caller, bytes: body.length, status: (await sent).status, healthzWorstMs: worst, healthzCalls: calls });
      }
    }
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, worstHealthzMs: Math.max(...rows.map((r) => r.healthzWorstMs)), idleHealthzMs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows, worstMs } = await runAdversarialBench();
  for (const r of rows) process.stdout.write(`${r.kind.padEnd(20)} ${r.path.padEnd(9)} ${r.status}  ${r.ms.toFixed(1).padStart(8)} ms  healthz ${r.healthzMs.toFixed(1)} ms\n`);
  process.stdout.write(`worst request: ${worstMs.toFixed(1)} ms\n`);
  const bodies = await runAdversarialBodiesBench();
  for (const r of bodies.rows) process.stdout.write(`${r.kind.padEnd(14)} ${r.caller.padEnd(13)} ${r.status}  /healthz worst ${r.healthzWorstMs.toFixed(1)} ms over ${r.healthzCalls} calls\n`);
  process.stdout.write(`worst /healthz under adversarial bodies: ${bodies.worstHealthzMs.toFixed(1)} ms (idle: ${bodies.idleHealthzMs.toFixed(1)} ms)\n`);
}
