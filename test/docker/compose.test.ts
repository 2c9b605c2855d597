/**
 * docker-compose.yml end to end (issue #22 item 4): `docker-compose up` starts HAPI, PostgreSQL, two replicas
 * and nginx; the test talks to nginx on 127.0.0.1:3000 and to HAPI on 127.0.0.1:8080 (the file publishes both on
 * loopback only). Discovery, a hook with no prefetch for a patient the one-shot loader put into HAPI, feedback
 * counted once whichever replica takes it, a replayed token refused, and `docker-compose down` leaving nothing.
 * The compose network is the one the file's project gets; every published port is on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_TRUST_FILE } from '../../src/config.js';
import { createDevTokenSigner, devTokenIssuer, type DevTokenSigner } from '../../src/security/dev-token.js';
import { examplesForToday } from '../../scripts/load-examples.js';
import { testApp } from '../support/app.js';
import { COMPOSE_PROJECT, answers, cardView, compose, docker, dockerUnavailable, run, waitFor } from '../support/docker.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { loadTrustConfig } from '../../src/security/trust-config.js';

const unavailable = dockerUnavailable();
const SERVICE = '/cds-services/trialmatch-sle';
/** nginx, in HAPI's network namespace, published on loopback (docker-compose.yml). */
const PROXY = 'http://127.0.0.1:3000';
/** The FHIR base URL in the hook: HAPI to the service (it shares HAPI's network) and to this test alike. */
const FHIR = 'http://localhost:8080/fhir';
const PATIENT = 'sle-child-likely';
const LABEL = `label=com.docker.compose.project=${COMPOSE_PROJECT}`;

describe.skipIf(unavailable !== '')(`docker-compose.yml end to end${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let signer: DevTokenSigner;

  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${PROXY}${path}`, {
      method,
      headers: { authorization: `Bearer ${token ?? (await signer.sign(`${PROXY}${path}`))}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    // The file's services use the development trust (trust.example.json, DEV_TRUST=1): its key signs here.
    const issuer = devTokenIssuer(loadTrustConfig(DEV_TRUST_FILE).issuers);
    if (!issuer) throw new Error(`${DEV_TRUST_FILE} has no development issuer`);
    signer = createDevTokenSigner(issuer);
    await compose(['down', '-v', '--remove-orphans'], 180_000);
    for (const port of [3000, 8080]) {
      if (await answers(`http://127.0.0.1:${port}/`)) throw new Error(`127.0.0.1:${port} is taken by something else: docker-compose.yml publishes it`);
    }
    const t = performance.now();
    await compose(['up', '-d', '--build'], 1_500_000);
    // The one-shot loader waits for HAPI, loads the examples (dates moved to today) and exits 0.
    const loader = (await compose(['ps', '-q', 'load-examples'])).trim();
    const exit = (await docker(['wait', loader], 700_000)).trim();
    if (exit !== '0') {
      const logs = await run('docker', ['logs', loader]);
      throw new Error(`load-examples exited ${exit}:\n${(logs.stdout + logs.stderr).slice(-3000)}`);
    }
    // Both replicas behind nginx (round robin: two answers in a row are one from each).
    await waitFor('nginx -> replicas /healthz', 180_000, async () => {
      const [a, b] = await Promise.all([fetch(`${PROXY}/healthz`), fetch(`${PROXY}/healthz`)]);
      return a.ok && b.ok ? true : undefined;
    });
    console.log(`[docker] docker-compose up (build, HAPI start, examples loaded, replicas ready) in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  });
  afterAll(async () => {
    if (unavailable === '') await run('docker-compose', ['-p', COMPOSE_PROJECT, '-f', 'docker-compose.yml', 'down', '-v', '--remove-orphans'], 180_000);
  });

  it('answers discovery through nginx', async () => {
    const { status, json } = await call('GET', '/cds-services');
    expect(status).toBe(200);
    expect(json.services.map((s: { id: string }) => s.id)).toContain('trialmatch-sle');
  });

  let cards: any[] = [];

  it('answers a hook with no prefetch from the patient loaded into the HAPI container, with the expected cards', async () => {
    const body = hookRequest(PATIENT, {
      fhirServer: FHIR,
      fhirAuthorization: { access_token: 'compose-test-token', token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'trialmatch-sle', patient: PATIENT },
    });
    const res = await call('POST', SERVICE, body);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    cards = res.json.cards;
    // Expected: the same patient as the loader wrote it (dates moved to today), sent as full prefetch to the app
    // in this process on today's clock.
    const bundle = examplesForToday().find((b) => patientIdOf(b) === PATIENT);
    if (!bundle) throw new Error(`no example ${PATIENT}`);
    const app = testApp({ clock: () => new Date() });
    try {
      const local = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(PATIENT, { prefetch: prefetchFor(bundle) }) });
      expect(local.statusCode).toBe(200);
      expect(cardView(cards)).toEqual(cardView(local.json().cards));
    } finally {
      await app.close();
    }
    // Not an empty answer matched by an empty answer: the example child is shown the blinatumomab trial.
    expect(cardView(cards).map((c) => c.trial)).toContain('nct06789107-blinatumomab');
  });

  it('counts feedback posted through nginx once, whichever replica takes each post', async () => {
    const card = cards.find((c: any) => c.source.topic.code === 'nct06789107-blinatumomab');
    expect(card).toBeDefined();
    const trial = card.source.topic.code as string;
    const before = (await call('GET', `/trials/${trial}/feedback`)).json.accepted as number;
    const feedback = { feedback: [{ card: card.uuid, outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }] };
    // nginx sends consecutive requests to alternate replicas (deploy/nginx.conf, round robin): the same
    // feedback reaches both.
    const first = await call('POST', `${SERVICE}/feedback`, feedback);
    expect(first).toMatchObject({ status: 200, json: { stored: 1, duplicates: 0, unknownCards: 0 } });
    const again = await call('POST', `${SERVICE}/feedback`, feedback);
    expect(again).toMatchObject({ status: 200, json: { stored: 0, duplicates: 1 } });
    expect((await call('GET', `/trials/${trial}/feedback`)).json.accepted).toBe(before + 1);
    expect((await call('GET', `/trials/${trial}/feedback`)).json.accepted).toBe(before + 1);
  });

  it('refuses a replayed token (401), whichever replica sees it again', async () => {
    const token = await signer.sign(`${PROXY}/cds-services`);
    expect((await call('GET', '/cds-services', undefined, token)).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const replayed = await call('GET', '/cds-services', undefined, token);
      expect(replayed.status).toBe(401);
      expect(replayed.json.issue[0].diagnostics).toMatch(/used before/);
    }
  });

  it('leaves nothing running after docker-compose down', async () => {
    await compose(['down', '-v', '--remove-orphans'], 180_000);
    expect((await docker(['ps', '-a', '-q', '--filter', LABEL])).trim()).toBe('');
    expect((await docker(['network', 'ls', '-q', '--filter', LABEL])).trim()).toBe('');
    expect((await docker(['volume', 'ls', '-q', '--filter', LABEL])).trim()).toBe('');
    expect(await answers(`${PROXY}/healthz`)).toBe(false);
    expect(await answers(`${FHIR}/metadata`)).toBe(false);
  });
});
