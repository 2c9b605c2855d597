import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exampleBundle, testApp } from '../support/app.js';
import { TRIAL } from '../support/clinical.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';
import { createDatabase } from '../support/replica.js';

// Issue #19 item 3: a coordinator's change of a trial's site status, made through one app instance, holds at
// once on another instance on the same PostgreSQL (no restart), and is kept there with who made it.
const unavailable = inject('postgresUnavailable');

describe.skipIf(unavailable !== '')(`the site's trial status shared by two instances${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let url: string;
  let a: FastifyInstance;
  let b: FastifyInstance;
  beforeAll(async () => {
    url = await createDatabase(inject('postgresUrl'), `site_status_${process.pid}`);
    const env = { DATABASE_URL: url, SUPPRESSION_SECRET: 'site-status-test-secret-0123456789' };
    a = testApp({}, env);
    b = testApp({}, env);
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  const cardTrials = async (app: FastifyInstance): Promise<string[]> => {
    const bundle = exampleBundle('sle-child-likely');
    const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
    expect(res.statusCode).toBe(200);
    return res.json().cards.map((c: any) => c.source.topic.code);
  };

  it('gives no card on the other instance for a trial paused on one, and the card again once reopened', async () => {
    expect(await cardTrials(b)).toContain(TRIAL.bcma);
    const paused = await a.inject({ method: 'PUT', url: `/trials/${TRIAL.bcma}/site-status`, payload: { status: 'paused', reason: 'sponsor hold' } });
    expect(paused.statusCode).toBe(200);
    expect(await cardTrials(b)).not.toContain(TRIAL.bcma);
    const evaluation = await b.inject({ method: 'POST', url: '/trials/$evaluate', payload: exampleBundle('sle-child-likely') });
    expect(evaluation.json().trials.find((t: any) => t.trialId === TRIAL.bcma).availability).toMatchObject({ recruiting: false, site: { status: 'paused', reason: 'sponsor hold' } });
    expect((await b.inject({ method: 'GET', url: `/fhir/ResearchStudy/${TRIAL.bcma}` })).json().status).toBe('temporarily-closed-to-accrual');

    expect((await b.inject({ method: 'PUT', url: `/trials/${TRIAL.bcma}/site-status`, payload: { status: 'open' } })).statusCode).toBe(200);
    expect(await cardTrials(a)).toContain(TRIAL.bcma);
  });

  it('keeps every change with who made it, and audits each', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('select trial_id, status, reason, issuer, subject from site_status order by id');
      expect(rows).toEqual([
        { trial_id: TRIAL.bcma, status: 'paused', reason: 'sponsor hold', issuer: 'anonymous', subject: 'anonymous' },
        { trial_id: TRIAL.bcma, status: 'open', reason: null, issuer: 'anonymous', subject: 'anonymous' },
      ]);
      const audit = await client.query("select trials from audit_events where action = 'site-status'");
      expect(audit.rows).toEqual([{ trials: [TRIAL.bcma] }, { trials: [TRIAL.bcma] }]);
    } finally {
      await client.end();
    }
  });
});
