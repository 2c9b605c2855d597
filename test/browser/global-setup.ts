import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { freePort } from '../support/loopback.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The running service, e.g. http://127.0.0.1:41234 ('' when the browser tests are skipped). */
    baseUrl: string;
    chromiumPath: string;
    /** Why the browser tests cannot run here ('' when they can). */
    browserSkip: string;
  }
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Starts the real service, as `npm start` does (environment configuration, client authentication on with the
 * development issuer), on 127.0.0.1, for the page tests to open in Debian's Chromium. Without Chromium the
 * tests are skipped with the reason, except in CI, where a missing browser is a failure.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  project.provide('chromiumPath', CHROMIUM);
  if (!existsSync(CHROMIUM)) {
    const reason = `Chromium not found at ${CHROMIUM}: install Debian's chromium package (bash .ci/setup-browser.sh) or set CHROMIUM_PATH`;
    if (process.env.CI === 'true') throw new Error(reason);
    console.warn(`browser tests skipped: ${reason}`);
    project.provide('browserSkip', reason);
    project.provide('baseUrl', '');
    return undefined;
  }
  const port = await freePort();
  const dataDir = mkdtempSync(resolve(tmpdir(), 'trialmatch-browser-'));
  const config = loadConfig({
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    // As `npm start`: the development trust and /dev/token are explicit (issue #12 item 1).
    DEV_TRUST: '1',
    DEMO: '1',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    FEEDBACK_FILE: resolve(dataDir, 'feedback.jsonl'),
  });
  const app = buildApp({ config });
  await app.listen({ port: config.port, host: config.host });
  project.provide('baseUrl', `http://127.0.0.1:${port}`);
  project.provide('browserSkip', '');
  return async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
