import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config } from '../config.js';
import { openEmbeddedState, type StateLog } from './embedded/embedded-state.js';
import { openPostgresState } from './postgres/postgres-state.js';
import type { SharedState } from './shared-state.js';

export interface OpenedState {
  state: SharedState;
  /** The HMAC key for suppression keys (security/suppression-key.ts). */
  suppressionSecret: string;
}

/**
 * The shared state the configuration asks for: PostgreSQL when DATABASE_URL is set (several replicas), else
 * the embedded journal (one process). Throws, naming what is wrong, when it cannot be opened: the service
 * does not start without its state.
 */
export async function createSharedState(config: Config, log: StateLog, hooks: { onDatabaseError?: (operation: string) => void } = {}): Promise<OpenedState> {
  if (config.databaseUrl) {
    // Every replica must compute the same keys, so the secret is configuration, never generated per process
    // (and not kept in the database beside the keys it protects).
    if (!config.suppressionSecret) throw new Error('SUPPRESSION_SECRET is required with DATABASE_URL: every replica needs the same HMAC key for suppression keys (docs/deployment.md)');
    const state = await openPostgresState({ databaseUrl: config.databaseUrl, maxCards: config.feedbackMaxCards, feedbackRetentionDays: config.feedbackRetentionDays, jtiIssuerQuota: Math.min(config.jtiIssuerQuota, config.jtiCacheSize), log, ...hooks });
    return { state, suppressionSecret: config.suppressionSecret };
  }
  const state = await openEmbeddedState({
    feedbackFile: config.feedbackFile,
    auditFile: config.auditFile,
    screeningFile: config.screeningFile,
    maxCards: config.feedbackMaxCards,
    feedbackRetentionDays: config.feedbackRetentionDays,
    jtiCacheSize: config.jtiCacheSize,
    jtiIssuerQuota: config.jtiIssuerQuota,
    terminologyCacheSize: config.terminologyCacheSize,
    log,
  });
  try {
    return { state, suppressionSecret: config.suppressionSecret ?? embeddedSecret(config.feedbackFile) };
  } catch (err) {
    await state.close();
    throw err;
  }
}

/**
 * The embedded mode's suppression secret when SUPPRESSION_SECRET is not given: 32 random bytes, generated once
 * and kept (hex, mode 0600) in `suppression-secret` beside the journal, so suppressions keep working across
 * restarts. Created exclusively: an existing file is read, never overwritten.
 */
export function embeddedSecret(feedbackFile: string): string {
  const file = resolve(dirname(feedbackFile), 'suppression-secret');
  mkdirSync(dirname(file), { recursive: true });
  try {
    const fd = openSync(file, 'wx', 0o600);
    const secret = randomBytes(32).toString('hex');
    try {
      writeSync(fd, `${secret}\n`);
    } finally {
      closeSync(fd);
    }
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // Group or others able to read it: tighten, as ssh does not but a key file should be.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < 32) throw new Error(`${file} holds no usable suppression secret; remove it to generate a new one (existing suppressions are then forgotten)`);
  return secret;
}
