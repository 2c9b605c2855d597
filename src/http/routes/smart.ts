import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { evaluateBundle } from '../../cds/handle-patient-view.js';
import { bundleResources } from '../../data/prefetch-source.js';
import { PROJECT_ROOT } from '../../paths.js';
import { FhirServerAllowlist } from '../../security/fhir-server-allowlist.js';
import { badRequest, forbidden } from '../../fhir/outcomes.js';
import { withAvailability } from '../../trials/site-info.js';
import { assertSamePatient, SmartTokenError, type SmartTokenInfo, type SmartTokenVerifier } from '../../security/smart-token.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The SMART access token's introspected facts, set before the body is read (POST /smart/$evaluate). */
    smartToken?: SmartTokenInfo;
  }
}

const SMART_DIR = join(PROJECT_ROOT, 'public', 'smart');
// SMART's own client library (issue #11 item 4), its browser build served as installed: no copy, no build step.
const FHIRCLIENT_BUILD = join(dirname(createRequire(import.meta.url).resolve('fhirclient/package.json')), 'build');

const querySchema = z.object({
  /** The FHIR base URL the app was launched from (the launch's `iss`): which trusted SMART server checks the token. */
  iss: z.url({ protocol: /^https?$/, message: 'iss must be an http(s) URL' }).optional(),
});

const bodySchema = z.object({
  /** The FHIR base URL the app was launched with (fhirclient's state.serverUrl): picks the trusted SMART server. */
  fhirServer: z.url({ protocol: /^https?$/, message: 'fhirServer must be an http(s) URL' }),
  bundle: z.object({ resourceType: z.literal('Bundle', { message: 'bundle must be a FHIR Bundle' }), entry: z.array(z.unknown()).optional() }).loose(),
});

/**
 * The app reads the record from the EHR's FHIR server, which must be one the page may connect to: the trusted
 * SMART servers' origins only (and the service). Otherwise the demo page's policy.
 */
export function contentSecurityPolicy(fhirBaseUrls: readonly string[]): string {
  const origins = [...new Set(fhirBaseUrls.map((u) => new URL(u).origin))];
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${origins.join(' ')}`.trim(),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function bundlePatientId(bundle: Bundle): string | undefined {
  const patients = bundleResources(bundle).filter((r) => r.resourceType === 'Patient');
  return patients.length === 1 ? patients[0]!.id : undefined;
}

export interface SmartRoutesOptions {
  verifier: SmartTokenVerifier;
}

/**
 * The SMART on FHIR app (issue #11 item 4): its static pages under /smart/ and the one call it makes,
 * POST /smart/$evaluate, open only to a caller holding an active SMART access token of a trusted SMART
 * server for the very patient whose Bundle it sends.
 */
export const smartRoutes: FastifyPluginAsyncZod<SmartRoutesOptions> = async (app, { verifier }) => {
  const csp = contentSecurityPolicy(verifier.fhirBaseUrls);
  const setHeaders = (res: { setHeader(name: string, value: string): unknown }): void => {
    res.setHeader('content-security-policy', csp);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    // The pages hold the launch's code and state in their URL: no shared cache keeps them.
    res.setHeader('cache-control', 'no-store');
  };
  await app.register(fastifyStatic, { root: SMART_DIR, prefix: '/smart/', decorateReply: false, index: false, setHeaders });
  await app.register(fastifyStatic, {
    root: FHIRCLIENT_BUILD,
    prefix: '/smart/vendor/',
    decorateReply: false,
    allowedPath: (path) => path === '/fhir-client.min.js',
    setHeaders,
  });

  const allowed = new FhirServerAllowlist(verifier.fhirBaseUrls);
  app.post(
    '/smart/$evaluate',
    {
      schema: { body: bodySchema, querystring: querySchema },
      // Issue #20 item 1: the token is checked before the body is read. The SMART server to ask is the one the
      // app names in ?iss= (its launch's `iss`), or the only one the trust file lists.
      onRequest: async (request, reply) => {
        // The service-wide SSRF guard (preValidation) refuses a `fhirServer` the caller may not name: this
        // route's callers may name the trusted SMART servers only, and nothing is fetched from it.
        request.client = { fhirServers: allowed };
        const iss = (request.query as { iss?: unknown }).iss;
        const servers = verifier.fhirBaseUrls;
        if (typeof iss !== 'string' && servers.length > 1) throw badRequest('name the FHIR server the app was launched from in ?iss=', ['iss']);
        // With no SMART server listed, '' is one the verifier does not know: every call is a 401.
        const server = typeof iss === 'string' ? iss : (servers[0] ?? '');
        try {
          request.smartToken = await verifier.verify(server, request.headers.authorization);
        } catch (err) {
          if (!(err instanceof SmartTokenError)) throw err;
          // The category only: never the token or what introspection said about it (HELPERS rule 5).
          request.logLine = { message: 'SMART token refused', fields: { smartAuth: err.failure } };
          if (err.failure !== 'introspection-failed') {
            void reply.header('www-authenticate', err.failure === 'missing' ? 'Bearer realm="trialmatch-cds"' : 'Bearer realm="trialmatch-cds", error="invalid_token"');
          }
          throw err.outcome;
        }
      },
    },
    async (request) => {
      const { fhirServer } = request.body;
      const bundle = request.body.bundle as unknown as Bundle;
      const token = request.smartToken!;
      // The body's server must be the one the token was checked at: a token of one SMART server opens no other's record.
      if (fhirServer.replace(/\/+$/, '') !== token.fhirBaseUrl) throw forbidden('fhirServer is not the SMART server the access token was checked at', ['fhirServer']);
      assertSamePatient(token, bundlePatientId(bundle));
      const now = app.clock();
      const { evaluations, faults } = evaluateBundle(bundle, app.engine, now);
      // The audit trail (issue #12 item 6): the SMART server vouched for the user (fhirUser), not a CDS client.
      await app.state.audit.record({
        at: now,
        issuer: fhirServer,
        subject: token.fhirUser ?? token.clientId ?? 'unknown',
        action: 'smart-evaluate',
        patientId: token.patient,
        fhirServer,
        trials: evaluations.map((e) => e.trialId),
      });
      request.logLine = { message: 'SMART app bundle evaluated', fields: { trials: evaluations.length, faults } };
      // Each trial with its availability, so the app says why a trial not recruiting here has no card (issue #19 item 3).
      return { patient: `Patient/${token.patient}`, evaluatedAt: now.toISOString(), trials: withAvailability(evaluations, await app.siteInfo.availability(now)) };
    },
  );
};
