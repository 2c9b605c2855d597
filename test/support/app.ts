import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SYNTHEA_DIR = resolve(ROOT, '..', 'shared', 'data', 'synthea');

/** A log sink the tests can read: pino writes one JSON line per entry. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(chunk.toString());
    cb();
  }
  get text(): string {
    return this.lines.join('');
  }
}

/**
 * The real app, with a fixed evaluation time (the examples' anchor date) unless told otherwise. Client
 * authentication is off unless the test sets AUTH_MODE=on (test/security/ does), and feedback goes to a
 * journal (and the audit file) in a fresh temporary directory (removed on close) unless FEEDBACK_FILE is given. Like `npm start`
 * it runs with the development trust (DEV_TRUST=1: loopback FHIR servers, /dev/token) and the demo (DEMO=1); a test of the secure
 * defaults passes DEV_TRUST: ''. Rate limits are off (RATE_LIMIT=off) except where a test turns them on:
 * every app.inject call comes from one address.
 */
export function testApp(overrides: Partial<AppOptions> = {}, env: NodeJS.ProcessEnv = {}): FastifyInstance {
  const tempDir = env.FEEDBACK_FILE || overrides.state ? undefined : mkdtempSync(resolve(tmpdir(), 'trialmatch-test-'));
  const config = loadConfig({ LOG_LEVEL: 'silent', AUTH_MODE: 'off', DEV_TRUST: '1', DEMO: '1', RATE_LIMIT: 'off', ...(tempDir ? { FEEDBACK_FILE: resolve(tempDir, 'feedback.jsonl') } : {}), ...env });
  const app = buildApp({ config, clock: () => ANCHOR, ...overrides });
  if (tempDir) app.addHook('onClose', async () => rmSync(tempDir, { recursive: true, force: true }));
  return app;
}

/**
 * Issue #19 item 3: the belimumab study is "Not yet recruiting" in its protocol document, so it gives no card.
 * Tests of its criteria read through its cards run as a site whose ClinicalTrials.gov record says it recruits
 * (REGISTRY_RECORDS_DIR, test/trials/fixtures/ctgov/README.md).
 */
export const BELIMUMAB_RECRUITING = { REGISTRY_RECORDS_DIR: resolve(ROOT, 'test', 'trials', 'fixtures', 'ctgov', 'recruiting') } as const;

export function exampleBundle(id: string): Bundle {
  return JSON.parse(readFileSync(resolve(ROOT, 'cds-hooks', 'examples', `${id}.json`), 'utf8')) as Bundle;
}

export function exampleIds(): string[] {
  const index = JSON.parse(readFileSync(resolve(ROOT, 'cds-hooks', 'examples', 'index.json'), 'utf8')) as { patients: { id: string }[] };
  return index.patients.map((p) => p.id);
}

export function syntheaBundles(): { file: string; bundle: Bundle }[] {
  return readdirSync(SYNTHEA_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({ file, bundle: JSON.parse(readFileSync(resolve(SYNTHEA_DIR, file), 'utf8')) as Bundle }));
}
