import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { daysSinceAnchor, exampleHookRequest, shiftDates, type ExampleSet } from '../../examples/example-patients.js';
import { notFound } from '../../fhir/outcomes.js';

/** The bundled synthetic example patients, with their dates moved to today, for trying the service. */
export const examplesRoutes: FastifyPluginAsyncZod<{ examples: ExampleSet }> = async (app, { examples }) => {
  const find = (id: string): ExampleSet['patients'][number] => {
    const p = examples.patients.find((x) => x.id === id);
    if (!p) throw notFound(`no example patient "${id}"; see GET /examples`);
    return p;
  };
  const days = (): number => daysSinceAnchor(examples.anchorDate, app.clock());
  const params = z.object({ id: z.string() });

  app.get('/examples', async () => ({ patients: examples.patients.map(({ id, name, summary }) => ({ id, name, summary })) }));
  app.get('/examples/:id/bundle', { schema: { params } }, async (request) => shiftDates(find(request.params.id).bundle, days()));
  app.get('/examples/:id/hook-request', { schema: { params } }, async (request) => exampleHookRequest(find(request.params.id), days()));
};
