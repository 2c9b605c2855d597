/**
 * Issue #19 item 1: SMART Backend Services (SMART App Launch 2.x §Backend Services) for a population job's
 * Bulk Data export, against the real SMART launcher's backend-services token endpoint (launch type 4), in
 * front of HAPI. The client's ES384 public key is registered with the launcher (its launch options' JWKS); the
 * job's token source discovers the token endpoint from .well-known/smart-configuration, signs a client
 * assertion, and gets a token the launcher's FHIR proxy and introspection accept. A key the launcher does not
 * know is refused, and a job then fails with the launcher's words, never with a token in them.
 *
 * The launcher's FHIR proxy does not pass on Content-Location (backend/routes/fhir/proxy.ts copies only
 * content-type, etag and location), so a kick-off through it cannot be followed: the export itself is tested
 * against HAPI directly (bulk-export.test.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendServicesTokens, defaultScope } from '../../src/bulk/backend-auth.js';
import { exportRequest } from '../../src/bulk/export-request.js';
import type { ScreeningJob } from '../../src/bulk/screening-job.js';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT, testApp } from '../support/app.js';
import { freePort } from '../support/loopback.js';
import { TS_NODE, LAUNCHER_DIR, startLauncher } from '../support/smart-launcher.js';
import { examplePatients, fhirBaseUrl, loadIntoHapi, skipNote } from './hapi-support.js';

const CLIENT_ID = 'trialmatch-bulk-itest';
const why = !fhirBaseUrl ? 'no FHIR server' : !existsSync(TS_NODE) ? `no SMART launcher set up in ${LAUNCHER_DIR} (run .ci/setup-smart-launcher.sh)` : '';
const inCi = process.env.CI === 'true' || process.env.REQUIRE_FHIR_SERVER === '1';

async function keyPair(kid: string): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  return { privateJwk: { ...(await exportJWK(privateKey)), alg: 'ES384', kid }, publicJwk: { ...(await exportJWK(publicKey)), alg: 'ES384', kid, use: 'sig', key_ops: ['verify'] } };
}

/** The launcher's FHIR base for a backend-service client (launch type 4) with this JWKS (src/isomorphic/codec.ts). */
function simBase(launcher: string, jwks: { keys: JWK[] }): string {
  const options = [4, '', '', '', 0, 0, 0, '', '', CLIENT_ID, '', '', '', JSON.stringify(jwks), 0, 0, ''];
  return `${launcher}/v/r4/sim/${Buffer.from(JSON.stringify(options)).toString('base64url')}/fhir`;
}

describe.skipIf(why !== '' && !inCi)(`SMART Backend Services for population jobs, through the SMART launcher${why ? ` (skipped: ${why})` : skipNote}`, () => {
  let launcher: ChildProcess | undefined;
  let launcherUrl = '';
  let registered: { privateJwk: JWK; publicJwk: JWK };
  let base = '';
  const dir = mkdtempSync(join(tmpdir(), 'trialmatch-bulk-auth-'));

  beforeAll(async () => {
    await loadIntoHapi(examplePatients().map((p) => p.bundle));
    const port = await freePort();
    launcherUrl = `http://127.0.0.1:${port}`;
    launcher = await startLauncher(port, fhirBaseUrl);
    registered = await keyPair('itest-es384');
    base = simBase(launcherUrl, { keys: [registered.publicJwk] });
  });
  afterAll(() => {
    launcher?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets a system token with a signed client assertion, which the launcher accepts for FHIR reads', async () => {
    const types = exportRequest(loadMappings({ dir: join(ROOT, 'fhir-mappings') })).types;
    const token = backendServicesTokens({ clientId: CLIENT_ID, privateJwk: registered.privateJwk, scope: defaultScope(types) }, base, { timeoutMs: 20_000 });
    const accessToken = await token();
    // Reused until shortly before it expires: the second call asks nothing.
    expect(await token()).toBe(accessToken);
    const introspected = await fetch(`${launcherUrl}/v/r4/auth/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: accessToken }),
    });
    const info = (await introspected.json()) as { active?: boolean; scope?: string };
    expect(info.active).toBe(true);
    expect(info.scope?.split(' ')).toEqual(expect.arrayContaining(['system/Patient.read', 'system/Observation.read']));
    const read = await fetch(`${base}/Patient/sle-child-likely`, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/fhir+json' } });
    expect(read.status).toBe(200);
    // A token the launcher did not sign is refused by the same proxy: the 200 above is the token's doing.
    const forged = await fetch(`${base}/Patient/sle-child-likely`, { headers: { authorization: `Bearer ${accessToken.slice(0, -4)}AAAA`, accept: 'application/fhir+json' } });
    expect(forged.status).toBe(401);
  });

  it('fails the job with the token endpoint\'s words when the key is not the registered one', async () => {
    const stranger = await keyPair('itest-es384');
    const keyFile = join(dir, 'stranger.jwk.json');
    writeFileSync(keyFile, JSON.stringify(stranger.privateJwk), { mode: 0o600 });
    const app = testApp({}, { BULK_CLIENT_ID: CLIENT_ID, BULK_PRIVATE_KEY_FILE: keyFile, BULK_POLL_MIN_MS: '500' });
    try {
      await app.ready();
      const started = await app.inject({ method: 'POST', url: '/population/jobs', payload: { fhirServer: base } });
      expect(started.statusCode, started.body).toBe(202);
      let job = started.json<ScreeningJob>();
      for (const deadline = Date.now() + 60_000; Date.now() < deadline && job.state !== 'failed' && job.state !== 'completed'; ) {
        await new Promise((r) => setTimeout(r, 300));
        job = (await app.inject({ method: 'GET', url: `/population/jobs/${job.id}` })).json<ScreeningJob>();
      }
      expect(job.state).toBe('failed');
      expect(job.error).toMatch(/token endpoint refused the client/);
      expect(job.error).not.toMatch(/eyJ/); // no JWT (assertion or token) in what the job says
    } finally {
      await app.close();
    }
  });
});
