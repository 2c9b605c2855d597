import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { badRequest } from '../../fhir/outcomes.js';
import { DEV_TOKEN_SECONDS, type DevTokenSigner } from '../../security/dev-token.js';

/**
 * GET /dev/token?aud=<absolute URL>: a short-lived ES384 client JWT from the development issuer, for the
 * demo page and the README's curl examples. Registered only when the trust file enables devTokenEndpoint;
 * otherwise the route does not exist (404), which tells the demo page to send no Authorization header.
 * Signs only for this service's own URLs.
 */
export const devTokenRoutes: FastifyPluginAsyncZod<{ signer: DevTokenSigner; publicBaseUrls: readonly string[] }> = async (app, { signer, publicBaseUrls }) => {
  app.get('/dev/token', { schema: { querystring: z.object({ aud: z.url({ protocol: /^https?$/, message: 'aud must be an absolute http(s) URL' }) }) } }, async (request, reply) => {
    const { aud } = request.query;
    if (!publicBaseUrls.some((base) => aud.startsWith(`${base}/`))) {
      throw badRequest(`aud must be a URL of this service (${publicBaseUrls.join(' or ')} followed by a path)`, ['aud']);
    }
    void reply.header('cache-control', 'no-store');
    return { token: await signer.sign(aud), tokenType: 'Bearer', expiresIn: DEV_TOKEN_SECONDS, issuer: signer.issuer };
  });
};
