import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { forbidden, notFound } from '../../fhir/outcomes.js';
import { SITE_STATUSES, SITE_STATUS_REASON_MAX, type TrialAvailability } from '../../trials/site-info.js';
import { auditEventFor } from '../audit-event.js';

const params = z.object({ trialId: z.string().max(128) });
/** The body of a site-status change, on /trials/{id}/site-status and on the worklist page's /worklist/{id}/site-status. */
export const siteStatusBody = z.strictObject({
  status: z.enum(SITE_STATUSES),
  /** Why, for the other coordinators and the apps ("enrolment target reached"); about the trial, never a patient. */
  reason: z.string().trim().min(1).max(SITE_STATUS_REASON_MAX).optional(),
});

export interface SiteStatusRoutesOptions {
  /** The trust file's issuers with the `coordinator` role: only their clients change a trial's status. */
  coordinatorIssuers: ReadonlySet<string>;
  /** AUTH_MODE=off (development): there is no issuer to ask, and the change is audited as anonymous. */
  authOff: boolean;
}

/**
 * Issue #19 item 3: each trial's status at this site, and a coordinator's change of it at run time. Under
 * /trials, so a client JWT is required (src/security/client-auth.ts), and a change needs an issuer with the
 * `coordinator` role in the trust file: an EHR's token alone must not close a trial for every patient. The
 * change is kept in the shared state (every replica answers with it at once, no restart) and audited with
 * who made it.
 */
export const siteStatusRoutes: FastifyPluginAsyncZod<SiteStatusRoutesOptions> = async (app, options) => {
  app.get('/trials/site-status', async () => ({
    ...(app.siteName ? { site: app.siteName } : {}),
    trials: [...(await app.siteInfo.availability(app.clock())).values()],
  }));

  app.put('/trials/:trialId/site-status', { schema: { params, body: siteStatusBody } }, async (request) => {
    const { trialId } = request.params;
    const issuer = request.client?.issuer;
    if (!options.authOff && (issuer === undefined || !options.coordinatorIssuers.has(issuer))) {
      throw forbidden('changing a trial\'s status at this site needs an issuer with the coordinator role in the trust file');
    }
    const audit = auditEventFor(request, new Date(), 'site-status', { trials: [trialId] });
    return changeSiteStatus(app, trialId, request.body, audit);
  });
};

/**
 * One coordinator's change of a trial's site status, from either door (a trust-file client here, the worklist
 * page's SMART user in src/http/routes/worklist.ts): kept in the shared state, audited with who made it, and
 * answered with the trial's availability now.
 */
export async function changeSiteStatus(
  app: FastifyInstance,
  trialId: string,
  change: z.infer<typeof siteStatusBody>,
  who: { at: Date; issuer: string; subject: string },
): Promise<TrialAvailability | undefined> {
  if (!app.siteInfo.hasTrial(trialId)) throw notFound(`no trial "${trialId}"; see GET /trials`);
  await app.siteInfo.setStatus({ trialId, status: change.status, ...(change.reason ? { reason: change.reason } : {}), at: who.at, issuer: who.issuer, subject: who.subject });
  await app.state.audit.record({ at: who.at, issuer: who.issuer, subject: who.subject, action: 'site-status', trials: [trialId] });
  // The trial and the new status only: the reason is free text and stays out of the operational log.
  app.log.info({ trialId, siteStatus: change.status }, 'site status changed');
  return (await app.siteInfo.availability(app.clock())).get(trialId);
}
