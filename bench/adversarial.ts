/**
 * The worst request time under the adversarial record data of issue #12 item 2 (test/support/adversarial.ts:
 * a 135 KiB valueString of spaces then "x", 64 KB UCUM units, huge displays, deep nesting), each sent through
 * the real app (app.inject) on the hook and $evaluate paths, with /healthz timed after each.
 *
 *   npx tsx bench/adversarial.ts            # prints a table and the worst time
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ADVERSARIAL_KINDS, adversarialBundle } from '../test/support/adversarial.js';
import { hookRequest, patientIdOf, prefetchFor } from '../test/support/hook-request.js';

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

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows, worstMs } = await runAdversarialBench();
  for (const r of rows) process.stdout.write(`${r.kind.padEnd(20)} ${r.path.padEnd(9)} ${r.status}  ${r.ms.toFixed(1).padStart(8)} ms  healthz ${r.healthzMs.toFixed(1)} ms\n`);
  process.stdout.write(`worst request: ${worstMs.toFixed(1)} ms\n`);
}
