/**
 * The production image built from the repository's Dockerfile and run (issue #22 item 2): it refuses to start in
 * production without a trust file, serves a hook with the test trust file mounted, holds no development key, runs
 * as a non-root user, and its size is reported. The container shares the host's network and listens on 127.0.0.1
 * only, so the test traffic stays on this machine.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, exampleBundle, testApp } from '../support/app.js';
import { TEST_IMAGE, cardView, docker, dockerUnavailable, run, waitFor } from '../support/docker.js';
import { hookRequest, prefetchFor } from '../support/hook-request.js';
import { freePort } from '../support/loopback.js';
import { TEST_TRUST_FILE, sandboxToken } from '../support/sandbox.js';

const unavailable = dockerUnavailable();
const SERVICE = '/cds-services/trialmatch-sle';

/** True when `needle` occurs anywhere in the container's exported filesystem (a tar stream, read in chunks). */
function exportContains(containerId: string, needle: string): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('docker', ['export', containerId], { stdio: ['ignore', 'pipe', 'inherit'] });
    const target = Buffer.from(needle);
    let tail = Buffer.alloc(0);
    let found = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (found) return;
      const window = Buffer.concat([tail, chunk]);
      if (window.includes(target)) {
        found = true;
        child.kill();
      }
      tail = window.subarray(Math.max(0, window.length - target.length));
    });
    child.once('error', reject);
    child.once('close', (code) => (found || code === 0 ? resolvePromise(found) : reject(new Error(`docker export exited ${code}`))));
  });
}

describe.skipIf(unavailable !== '')(`the production image (Dockerfile)${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  const started: string[] = [];

  beforeAll(async () => {
    const t = performance.now();
    // --network host: the build's npm ci reaches the npm registry the way the machine does.
    await docker(['build', '--network', 'host', '-q', '-t', TEST_IMAGE, '.'], 900_000);
    console.log(`[docker] built ${TEST_IMAGE} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  });
  afterAll(async () => {
    for (const id of started) await run('docker', ['rm', '-f', id]);
  });

  it('refuses to start in production without a trust file', async () => {
    const port = await freePort();
    const r = await run('docker', ['run', '--rm', '--network', 'host', '-e', 'HOST=127.0.0.1', '-e', `PORT=${port}`, TEST_IMAGE], 60_000);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/NODE_ENV=production needs TRUST_CONFIG/);
  });

  it('serves a hook with the test trust file mounted, the cards the service gives in-process', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const id = (
      await docker([
        'run', '-d', '--network', 'host',
        '-e', 'HOST=127.0.0.1', '-e', `PORT=${port}`, '-e', `PUBLIC_BASE_URL=${base}`, '-e', 'METRICS=off',
        '-e', 'TRUST_CONFIG=/etc/trialmatch/trust.json', '-v', `${TEST_TRUST_FILE}:/etc/trialmatch/trust.json:ro`,
        TEST_IMAGE,
      ])
    ).trim();
    started.push(id);
    await waitFor('the container /healthz', 60_000, async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined)).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${(await run('docker', ['logs', id])).stderr.slice(-3000)}`);
    });
    const bundle = exampleBundle('sle-child-likely');
    const body = hookRequest('sle-child-likely', { prefetch: prefetchFor(bundle) });
    const url = `${base}${SERVICE}`;
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await sandboxToken(url)}` }, body: JSON.stringify(body) });
    const json = (await res.json()) as { cards: any[] };
    expect(res.status, JSON.stringify(json)).toBe(200);
    expect(json.cards.length).toBeGreaterThan(0);
    // The same request to the app in this process, on the container's clock (now), configured as the image is
    // (no DEMO, so no example site file: no study contact on the cards): the same cards.
    const app = testApp({ clock: () => new Date() }, { DEMO: '' });
    try {
      const local = await app.inject({ method: 'POST', url: SERVICE, payload: body });
      expect(cardView(json.cards)).toEqual(cardView(local.json().cards));
    } finally {
      await app.close();
    }
  });

  it('holds no development key and no example or test trust file', async () => {
    const { d } = JSON.parse(readFileSync(resolve(ROOT, 'config', 'dev-issuer.private.jwk.json'), 'utf8')) as { d: string };
    expect(d.length).toBeGreaterThan(20);
    const id = (await docker(['create', TEST_IMAGE])).trim();
    started.push(id);
    expect(await exportContains(id, d)).toBe(false);
    const config = await docker(['run', '--rm', '--entrypoint', 'ls', TEST_IMAGE, '-A', '/app/config']);
    expect(config.split('\n')).not.toContain('dev-issuer.private.jwk.json');
    expect(config.split('\n')).not.toContain('trust.example.json');
    expect(config.split('\n')).not.toContain('trust.test.json');
  });

  it('runs as a non-root user', async () => {
    expect((await docker(['image', 'inspect', '--format', '{{.Config.User}}', TEST_IMAGE])).trim()).toBe('node');
    const uid = (await docker(['run', '--rm', '--entrypoint', 'id', TEST_IMAGE, '-u'])).trim();
    expect(uid).toMatch(/^\d+$/);
    expect(uid).not.toBe('0');
  });

  it('reports its size', async () => {
    const bytes = Number((await docker(['image', 'inspect', '--format', '{{.Size}}', TEST_IMAGE])).trim());
    expect(bytes).toBeGreaterThan(0);
    console.log(`[docker] ${TEST_IMAGE}: ${(bytes / 1024 / 1024).toFixed(0)} MiB`);
  });
});
