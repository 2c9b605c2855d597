/**
 * One HTTP target of the bench, in its own process so the load generator does not share its event loop:
 *   service   the real app (buildApp, LOG_LEVEL=silent), compiled (dist/) unless BENCH_SOURCE=ts
 *   baseline  a bare fastify route that parses the same body (same bodyLimit and JSON parser settings)
 *             and answers {"cards":[]}: the floor, HTTP plus JSON parsing of the same bytes
 *   baseline-auth  the same floor that also checks the client JWT as CDS Hooks 2.0 §Trusting CDS Clients asks
 *             of every service (jose's jwtVerify: ES384 against the key in BENCH_FLOOR_JWKS, the audience this
 *             route's URL, exp, and a jti seen once): the least a service that authenticates its EHR pays
 * It reports its port to the parent over IPC and answers "stats" messages with its resident size and the CPU
 * time it has used (user + system, µs), so the bench can give each target's CPU cost per request.
 *
 * The service runs with AUTH_MODE=off (unless the environment says otherwise): a load generator cannot sign a
 * fresh JWT per call (jti replays are refused), so the bench measures the hook without the token check.
 * Its feedback journal goes to a temporary directory, never to data/.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type * as AppModuleNs from '../src/app.js';
import type * as ConfigModuleNs from '../src/config.js';

// The compiled service, as the production image runs it (npm run start:prod); BENCH_SOURCE=ts runs src/
// through tsx instead, as npm start does (tsx's name-keeping wrappers cost ~20% of the evaluator's time).
const fromSource = process.env.BENCH_SOURCE === 'ts';
const { buildApp } = (await import(fromSource ? '../src/app.js' : '../dist/src/app.js')) as typeof AppModuleNs;
const { loadConfig } = (await import(fromSource ? '../src/config.js' : '../dist/src/config.js')) as typeof ConfigModuleNs;

const mode = process.argv[2];
const config = loadConfig({
  AUTH_MODE: 'off',
  // The development trust's loopback FHIR servers (the HAPI test server), and no rate limits under load.
  DEV_TRUST: '1',
  DEMO: '1',
  RATE_LIMIT: 'off',
  FEEDBACK_FILE: join(mkdtempSync(join(tmpdir(), 'trialmatch-bench-')), 'feedback.jsonl'),
  ...process.env,
  LOG_LEVEL: 'silent',
});

function baselineApp(): ReturnType<typeof Fastify> {
  const app = Fastify({ logger: false, bodyLimit: config.bodyLimit, onProtoPoisoning: 'error', onConstructorPoisoning: 'error' });
  app.removeContentTypeParser('text/plain');
  app.post('/cds-services/:id', async () => ({ cards: [] }));
  return app;
}

/**
 * The floor with the client JWT checked (baseline-auth): the key set from BENCH_FLOOR_JWKS, ES384 only, the
 * audience the route's own URL, a jti accepted once; a refused token is a 401. No log, no cards.
 */
function authBaselineApp(): { app: ReturnType<typeof Fastify>; listening: (origin: string) => void } {
  const app = baselineApp();
  const jwks = process.env.BENCH_FLOOR_JWKS;
  if (!jwks) throw new Error('baseline-auth needs BENCH_FLOOR_JWKS (a JSON key set)');
  const keys = createLocalJWKSet(JSON.parse(jwks) as JSONWebKeySet);
  const seen = new Set<string>();
  let origin = '';
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    try {
      if (!token) throw new Error('no token');
      const { payload } = await jwtVerify(token, keys, { algorithms: ['ES384'], audience: `${origin}${request.url}`, requiredClaims: ['iss', 'exp', 'jti'] });
      if (seen.has(payload.jti!)) throw new Error('jti seen before');
      seen.add(payload.jti!);
    } catch {
      return reply.code(401).send({ error: 'unauthorized' });
    }
  });
  return { app, listening: (o) => (origin = o) };
}

const auth = mode === 'baseline-auth' ? authBaselineApp() : undefined;
const app = auth ? auth.app : mode === 'baseline' ? baselineApp() : mode === 'service' ? buildApp({ config }) : undefined;
if (!app) throw new Error('usage: serve.ts service|baseline|baseline-auth');
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
if (!address || typeof address === 'string') throw new Error('no port');
auth?.listening(`http://127.0.0.1:${address.port}`);
process.on('message', (msg) => {
  if (msg === 'stats') {
    const cpu = process.cpuUsage();
    process.send?.({ rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed, cpuUs: cpu.user + cpu.system });
  }
  if (msg === 'stop') void app.close().then(() => process.exit(0));
});
process.send?.({ port: address.port });
