import { isUnauthenticated } from '@medplum/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { AuthError, ClientAuthenticator, type ClientIdentity } from './client-authenticator.js';
import { tooManyRequests } from '../fhir/outcomes.js';
import { FailureBudget } from './failure-budget.js';
import { FhirServerAllowlist, fhirServerNotAllowed } from './fhir-server-allowlist.js';
import type { LoadedTrust } from './trust-config.js';
import type { ReplayStore } from '../store/shared-state.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the client-auth hook on the routes it protects. */
    client?: ClientIdentity;
  }
}

/**
 * The routes that carry patient data or answer for the EHR: CDS Hooks discovery, service calls and feedback,
 * the /trials API and population jobs (issue #19). /examples, /demo, /, /healthz, /dev/token and static files stay open (no EHR data).
 */
export function isProtectedPath(path: string): boolean {
  return /^\/(cds-services|trials|population)(\/|$|\?)/.test(path);
}

function pathOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? '/';
}

/**
 * Registers the authentication hook (onRequest, so an unauthenticated body is never parsed) and, when
 * authentication is off, the global FHIR server allowlist. Refusals go through the one error handler.
 */
export function registerClientAuth(app: FastifyInstance, config: Config, trust: LoadedTrust, replay: ReplayStore): void {
  app.decorateRequest('client', undefined);
  registerFhirServerGuard(app);
  if (config.authMode === 'off') {
    const identity: ClientIdentity = { fhirServers: new FhirServerAllowlist(trust.unauthenticatedFhirServers) };
    app.log.warn(
      { authMode: 'off', fhirServers: trust.unauthenticatedFhirServers },
      '!!! AUTHENTICATION IS OFF (AUTH_MODE=off): any caller can use this service. Development only; never expose it to a network. !!!',
    );
    app.addHook('onRequest', async (request) => {
      request.client = identity;
    });
    return;
  }
  const authenticator = new ClientAuthenticator({
    trust,
    publicBaseUrls: config.publicBaseUrls,
    leewaySeconds: config.jwtLeewaySeconds,
    maxLifetimeSeconds: config.jwtMaxLifetimeSeconds,
    replay,
  });
  // Issue #12 item 2: refused tokens per client address; past the budget, 429 before any verification.
  const failures = config.rateLimit ? new FailureBudget(config.authFailuresPerMinute) : undefined;
  app.log.info({ trustFile: trust.file ?? null, issuers: trust.issuers.map((i) => i.issuer), audiences: config.publicBaseUrls }, 'client authentication on');
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS') return;
    const path = pathOf(request);
    if (!isProtectedPath(path) && !isProtectedPath(request.routeOptions.url ?? '/')) return;
    if (failures?.exhausted(request.ip)) {
      request.log.info({ auth: 'throttled' }, 'client refused');
      void reply.header('retry-after', '60');
      throw tooManyRequests(`more than ${config.authFailuresPerMinute} refused tokens from this address in a minute; try again later`);
    }
    try {
      request.client = await authenticator.authenticate(request.headers.authorization, request.url);
      request.log.debug({ issuer: request.client.issuer }, 'client authenticated');
    } catch (err) {
      const failure = err instanceof AuthError ? err.failure : undefined;
      if (err instanceof AuthError && isUnauthenticated(err.outcome)) failures?.fail(request.ip);
      // The category only: never the token, its claims or an unverified issuer.
      request.log.info({ auth: failure ?? 'error' }, 'client refused');
      // RFC 6750 §3: a 401 names the scheme; not a 503 (the service could not check the token now).
      if (err instanceof AuthError && isUnauthenticated(err.outcome)) {
        void reply.header('www-authenticate', failure === 'missing' ? 'Bearer realm="trialmatch-cds"' : 'Bearer realm="trialmatch-cds", error="invalid_token"');
      }
      throw err;
    }
  });
}

/** The `fhirServer` a request names, in its JSON body or its query string. */
function fhirServerNamed(request: FastifyRequest): string | undefined {
  const fromBody = (request.body as { fhirServer?: unknown } | null | undefined)?.fhirServer;
  if (typeof fromBody === 'string') return fromBody;
  const fromQuery = (request.query as { fhirServer?: unknown } | null | undefined)?.fhirServer;
  return typeof fromQuery === 'string' ? fromQuery : undefined;
}

/**
 * Server-side request forgery guard for every route (CDS Hooks 2.0 §Trusting CDS Clients): a request that
 * names a `fhirServer` its caller may not name is refused with 403 before its handler runs, so no request
 * leaves the service. A route without an authenticated caller may name none (when AUTH_MODE=off every
 * caller gets the trust file's unauthenticatedFhirServers).
 */
function registerFhirServerGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const named = fhirServerNamed(request);
    if (named === undefined) return;
    if (request.client?.fhirServers.allows(named)) return;
    request.log.info({ issuer: request.client?.issuer }, 'fhirServer refused: not on the allowlist');
    throw fhirServerNotAllowed();
  });
}
