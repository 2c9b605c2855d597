import type { FastifyPluginAsync } from 'fastify';

/** The demo EHR page (issue #4). Until it lands, `/` points to the API's discovery document. */
export const demoRoutes: FastifyPluginAsync = async (app) => {
  app.get('/', async (_request, reply) => reply.redirect('/cds-services'));
};
