import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { loadWorklist, worklistCounts } from '../../coordinator/load-worklist.js';
import { worklistCsv } from '../../coordinator/worklist-csv.js';
import { worklistGroup, worklistList, type TrialLabel } from '../../coordinator/worklist-fhir.js';
import { patientReference, type Worklist } from '../../coordinator/worklist.js';
import { normalizeFhirBase } from '../../fhir/fhir-base-url.js';
import { patientIdSchema } from '../../fhir/fhir-id.js';
import { badRequest, forbidden, notFound } from '../../fhir/outcomes.js';
import { PROJECT_ROOT } from '../../paths.js';
import { AuthError } from '../../security/client-authenticator.js';
import type { CoordinatorAuthenticator, CoordinatorIdentity } from '../../security/coordinator-auth.js';
import { SmartTokenError } from '../../security/smart-token.js';
import { contentSecurityPolicy } from './smart.js';
import { SITE_STATUSES } from '../../trials/site-info.js';
import { PATIENT_STATES } from '../../store/patient-states.js';
import { changeSiteStatus, siteStatusBody } from './site-status.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The coordinator calling a /worklist route, set before the body is read. */
    coordinator?: CoordinatorIdentity;
  }
}

const params = z.object({ trialId: z.string().min(1).max(128) });
const query = z.object({
  /** The FHIR base URL the page was launched from (the launch's `iss`): which trusted SMART server checks the token. */
  iss: z.url({ protocol: /^https?$/ }).optional(),
});
const stateBody = z.strictObject({
  fhirServer: z.url({ protocol: /^https?$/, message: 'fhirServer must be an http(s) URL' }),
  patientId: patientIdSchema,
  state: z.enum(PATIENT_STATES),
});

const WORKLIST_DIR = join(PROJECT_ROOT, 'public', 'worklist');

export interface WorklistRoutesOptions {
  auth: CoordinatorAuthenticator;
  /** The trusted SMART servers' FHIR base URLs: the page may connect to their origins (token exchange). */
  smartServers: readonly string[];
}

/**
 * The study coordinator's side (issue #19 item 2): each trial's ranked candidates from population screening,
 * as JSON (the page), a FHIR Group and List, and CSV; and the patient states the coordinator sets, audited.
 * Open to a coordinator only (src/security/coordinator-auth.ts), for the patients of the FHIR servers that
 * coordinator may see. The page itself (public/worklist/, under /coordinator/) holds no data and is open.
 */
export const worklistRoutes: FastifyPluginAsyncZod<WorklistRoutesOptions> = async (app, { auth, smartServers }) => {
  // The SMART app's policy: scripts and styles from the service only, connections to the SMART servers.
  const csp = contentSecurityPolicy(smartServers);
  await app.register(fastifyStatic, {
    root: WORKLIST_DIR,
    prefix: '/coordinator/',
    decorateReply: false,
    index: false,
    setHeaders: (res) => {
      res.setHeader('content-security-policy', csp);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
      res.setHeader('cache-control', 'no-store');
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS' || !/^\/worklist(\/|$|\?)/.test(request.url)) return;
    if (request.client && !request.client.issuer) {
      // AUTH_MODE=off (development only): the client-auth hook let everyone in; so does the worklist.
      request.coordinator = { issuer: 'anonymous', subject: 'anonymous', fhirServers: request.client.fhirServers, via: 'trust-file', mayChangeSiteStatus: true };
      return;
    }
    const iss = new URL(request.url, 'http://x').searchParams.get('iss') ?? undefined;
    try {
      request.coordinator = await auth.authenticate(request.headers.authorization, request.url, iss);
    } catch (err) {
      const failure = err instanceof SmartTokenError || err instanceof AuthError ? err.failure : undefined;
      // The category only: never the token or its claims.
      request.log.info({ coordinatorAuth: failure ?? 'refused' }, 'coordinator refused');
      if (failure !== undefined && failure !== 'introspection-failed' && failure !== 'keys-unavailable') {
        void reply.header('www-authenticate', failure === 'missing' ? 'Bearer realm="trialmatch-cds"' : 'Bearer realm="trialmatch-cds", error="invalid_token"');
      }
      throw err instanceof SmartTokenError ? err.outcome : err;
    }
    // The service-wide fhirServer guard (preValidation) judges a named server by this caller's servers.
    request.client = { issuer: request.coordinator.issuer, subject: request.coordinator.subject, fhirServers: request.coordinator.fhirServers };
  });

  const trialOf = (trialId: string): TrialLabel => {
    const t = app.engine.mappings.trials.find((x) => x.id === trialId);
    if (!t) throw notFound(`no trial ${trialId}`);
    return { id: t.id, title: t.title, shortTitle: t.shortTitle };
  };
  const worklistFor = async (trialId: string, who: CoordinatorIdentity): Promise<Worklist> => {
    const worklist = await loadWorklist(app.state, trialId, (server) => who.fhirServers.allows(server));
    await app.state.audit.record({ at: app.clock(), issuer: who.issuer, subject: who.subject, action: 'worklist', trials: [trialId] });
    return worklist;
  };

  app.get('/worklist', { schema: { querystring: query } }, async (request) => {
    const who = request.coordinator!;
    // Issue #19 item 3: each trial's registry and site status, its study contact, and why it gives no card.
    const availability = await app.siteInfo.availability(app.clock());
    const trials = [];
    for (const t of app.engine.mappings.trials) {
      const worklist = await loadWorklist(app.state, t.id, (server) => who.fhirServers.allows(server));
      trials.push({ id: t.id, title: t.title, shortTitle: t.shortTitle, ...(worklist.screenedAt ? { screenedAt: worklist.screenedAt } : {}), ...worklistCounts(worklist), availability: availability.get(t.id) });
    }
    return { trials, states: PATIENT_STATES, siteStatuses: SITE_STATUSES, user: { issuer: who.issuer, subject: who.subject, mayChangeSiteStatus: who.mayChangeSiteStatus } };
  });

  app.get('/worklist/:trialId', { schema: { params, querystring: query } }, async (request) => {
    const trial = trialOf(request.params.trialId);
    const worklist = await worklistFor(trial.id, request.coordinator!);
    return {
      trial,
      ...(worklist.screenedAt ? { screenedAt: worklist.screenedAt } : {}),
      candidates: worklist.candidates.map((c) => ({
        rank: c.rank,
        patient: patientReference(c.entry),
        fhirServer: c.entry.fhirServer,
        patientId: c.entry.patientId,
        status: c.entry.status,
        statusReason: c.entry.statusReason,
        openItems: c.entry.openItems,
        openItemText: c.entry.openItemText,
        ...(c.entry.lastDataSeen ? { lastDataSeen: c.entry.lastDataSeen } : {}),
        isNew: c.entry.isNew,
        screenedAt: c.entry.screenedAt,
        criteria: c.entry.criteria,
        state: c.state,
        ...(c.stateSet ? { stateSetBy: c.stateSet.setBy, stateSetAt: c.stateSet.setAt } : {}),
      })),
    };
  });

  app.get('/worklist/:trialId/Group', { schema: { params, querystring: query } }, async (request, reply) => {
    const trial = trialOf(request.params.trialId);
    return reply.type('application/fhir+json').send(worklistGroup(await worklistFor(trial.id, request.coordinator!), trial));
  });

  app.get('/worklist/:trialId/List', { schema: { params, querystring: query } }, async (request, reply) => {
    const trial = trialOf(request.params.trialId);
    return reply.type('application/fhir+json').send(worklistList(await worklistFor(trial.id, request.coordinator!), trial));
  });

  app.get('/worklist/:trialId/csv', { schema: { params, querystring: query } }, async (request, reply) => {
    const trial = trialOf(request.params.trialId);
    const csv = worklistCsv(await worklistFor(trial.id, request.coordinator!));
    // RFC 4180 §3: text/csv, with the header line present.
    return reply.type('text/csv; charset=utf-8; header=present').header('content-disposition', `attachment; filename="worklist-${trial.id}.csv"`).send(csv);
  });

  app.put('/worklist/:trialId/state', { schema: { params, querystring: query, body: stateBody } }, async (request) => {
    const trial = trialOf(request.params.trialId);
    const who = request.coordinator!;
    const fhirServer = normalizeFhirBase(request.body.fhirServer);
    if (!fhirServer) throw badRequest('fhirServer is not a URL', ['fhirServer']);
    const { patientId, state } = request.body;
    const at = app.clock();
    const stored = await app.state.patientStates.set({ fhirServer, trialId: trial.id, patientId, state, setBy: { issuer: who.issuer, subject: who.subject }, setAt: at.toISOString() });
    await app.state.audit.record({ at, issuer: who.issuer, subject: who.subject, action: 'coordinator-state', patientId, fhirServer, trials: [trial.id], state });
    request.log.info({ trialId: trial.id, state }, 'patient state set');
    return stored;
  });

  // Issue #19 item 3: the page's site-status control. The same change as PUT /trials/{id}/site-status (shared
  // state, audited), by the coordinator the worklist already authenticated: a SMART user of a trusted server,
  // or a trust-file issuer with the coordinator role.
  app.put('/worklist/:trialId/site-status', { schema: { params, querystring: query, body: siteStatusBody } }, async (request) => {
    const trial = trialOf(request.params.trialId);
    const who = request.coordinator!;
    if (!who.mayChangeSiteStatus) throw forbidden('changing a trial\'s site status needs the coordinator role in the trust file, or a SMART token that grants user/ResearchStudy.u');
    return changeSiteStatus(app, trial.id, request.body, { at: new Date(), issuer: who.issuer, subject: who.subject });
  });
};
