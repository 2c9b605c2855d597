import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../../fhir/outcomes.js';
import { TRIALS_FHIR_BASE, eligibilityGroup, groupId, practitionerRoleId, researchStudy, studyContactRole } from '../../trials/research-study.js';

const params = z.object({ id: z.string().max(128) });

export { TRIALS_FHIR_BASE };

/**
 * Issue #19 item 3: the trials as FHIR R4 ResearchStudy and their eligibility criteria as Group, read-only
 * and open (no patient data; the study contact is the site's published one), so other tools can read them.
 */
export const researchStudyRoutes: FastifyPluginAsyncZod = async (app) => {
  const trials = app.engine.mappings.trials;
  const fhirJson = 'application/fhir+json; charset=utf-8';

  app.get(`${TRIALS_FHIR_BASE}/ResearchStudy`, async (_request, reply) => {
    const availability = await app.siteInfo.availability(app.clock());
    const entry = trials.flatMap((t) => {
      const a = availability.get(t.id);
      return a ? [{ fullUrl: `ResearchStudy/${t.id}`, resource: researchStudy(t, a, app.siteName) }] : [];
    });
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry };
    return reply.type(fhirJson).send(bundle);
  });

  app.get(`${TRIALS_FHIR_BASE}/ResearchStudy/:id`, { schema: { params } }, async (request, reply) => {
    const trial = trials.find((t) => t.id === request.params.id);
    const a = trial ? (await app.siteInfo.availability(app.clock())).get(trial.id) : undefined;
    if (!trial || !a) throw notFound(`no ResearchStudy "${request.params.id}"`);
    return reply.type(fhirJson).send(researchStudy(trial, a, app.siteName));
  });

  app.get(`${TRIALS_FHIR_BASE}/PractitionerRole/:id`, { schema: { params } }, async (request, reply) => {
    const trial = trials.find((t) => practitionerRoleId(t) === request.params.id);
    const a = trial ? (await app.siteInfo.availability(app.clock())).get(trial.id) : undefined;
    const role = trial && a ? studyContactRole(trial, a) : undefined;
    if (!role) throw notFound(`no PractitionerRole "${request.params.id}"`);
    return reply.type(fhirJson).send(role);
  });

  app.get(`${TRIALS_FHIR_BASE}/Group/:id`, { schema: { params } }, async (request, reply) => {
    const trial = trials.find((t) => groupId(t) === request.params.id);
    if (!trial) throw notFound(`no Group "${request.params.id}"`);
    return reply.type(fhirJson).send(eligibilityGroup(trial));
  });
};
