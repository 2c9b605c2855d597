import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BASE, makeIssuer, writeTrust, type TestIssuer } from '../security/helpers.js';
import { exampleBundle, testApp } from '../support/app.js';
import { TRIAL } from '../support/clinical.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

// Issue #19 item 3: a trial the registry says is not recruiting, or the site has paused, closed or does not
// take part in, gives no card; a coordinator changes the site's status at run time; the apps say why.

const SERVICE = '/cds-services/trialmatch-sle';

async function cardTrials(app: FastifyInstance, exampleId: string): Promise<string[]> {
  const bundle = exampleBundle(exampleId);
  const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
  expect(res.statusCode).toBe(200);
  return res.json().cards.map((c: any) => c.source.topic.code);
}

async function evaluated(app: FastifyInstance, exampleId: string): Promise<Map<string, any>> {
  const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: exampleBundle(exampleId) });
  expect(res.statusCode).toBe(200);
  return new Map(res.json().trials.map((t: any) => [t.trialId, t]));
}

function setStatus(app: FastifyInstance, trialId: string, status: string, reason?: string) {
  return app.inject({ method: 'PUT', url: `/trials/${trialId}/site-status`, payload: { status, ...(reason ? { reason } : {}) } });
}

describe('trial status the site controls', () => {
  let dir: string;
  let app: FastifyInstance;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'trialstatus-'));
    app = testApp({}, { FEEDBACK_FILE: join(dir, 'feedback.jsonl') });
  });
  afterEach(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives no card for a trial its registry says is not yet recruiting, and $evaluate says why', async () => {
    // The belimumab study's document: "Not yet recruiting", current as of November 14, 2025.
    const trials = await evaluated(app, 'sle-adult-belimumab');
    const belimumab = trials.get(TRIAL.belimumab);
    expect(belimumab.status).toBe('possibly-eligible');
    expect(belimumab.availability).toMatchObject({ recruiting: false, registry: { status: 'NOT_YET_RECRUITING', asOf: '2025-11-14', stale: true }, site: { status: 'open' } });
    expect(belimumab.availability.why).toMatch(/^Not recruiting here: the registry says "Not yet recruiting" \(as of 2025-11-14, protocol document\)/);
    const cards = await cardTrials(app, 'sle-adult-belimumab');
    expect(cards).not.toContain(TRIAL.belimumab);
    expect(cards).toContain(TRIAL.bcma);
  });

  it('hides a paused trial\'s card at once, and shows it again when the coordinator reopens it', async () => {
    expect(await cardTrials(app, 'sle-child-likely')).toContain(TRIAL.bcma);
    const paused = await setStatus(app, TRIAL.bcma, 'paused', 'enrolment target reached');
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ trialId: TRIAL.bcma, recruiting: false, site: { status: 'paused', source: 'coordinator', reason: 'enrolment target reached' } });

    const cards = await cardTrials(app, 'sle-child-likely');
    expect(cards).not.toContain(TRIAL.bcma);
    expect(cards).toEqual(expect.arrayContaining([TRIAL.blinatumomab, TRIAL.cd19]));
    // The patient's evaluation is unchanged: this is about the trial, not the patient.
    const bcma = (await evaluated(app, 'sle-child-likely')).get(TRIAL.bcma);
    expect(bcma.status).toBe('possibly-eligible');
    expect(bcma.availability.why).toMatch(/paused at this site since \d{4}-\d{2}-\d{2} \(enrolment target reached\)/);

    expect((await setStatus(app, TRIAL.bcma, 'open')).json()).toMatchObject({ recruiting: true, site: { status: 'open', source: 'coordinator' } });
    expect(await cardTrials(app, 'sle-child-likely')).toContain(TRIAL.bcma);
  });

  it.each(['closed', 'not-participating'])('gives no card for a trial %s at this site', async (status) => {
    expect((await setStatus(app, TRIAL.cd19, status)).statusCode).toBe(200);
    expect(await cardTrials(app, 'sle-child-likely')).not.toContain(TRIAL.cd19);
  });

  it('keeps a coordinator\'s change across a restart and audits who made it', async () => {
    await setStatus(app, TRIAL.blinatumomab, 'closed', 'site closed the study');
    await app.close();
    app = testApp({}, { FEEDBACK_FILE: join(dir, 'feedback.jsonl') });
    const status = (await app.inject({ method: 'GET', url: '/trials/site-status' })).json();
    expect(status.trials.find((t: any) => t.trialId === TRIAL.blinatumomab)).toMatchObject({ recruiting: false, site: { status: 'closed', reason: 'site closed the study' } });
    expect(await cardTrials(app, 'sle-child-likely')).not.toContain(TRIAL.blinatumomab);
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.filter((e) => e.action === 'site-status')).toEqual([expect.objectContaining({ issuer: 'anonymous', subject: 'anonymous', trials: [TRIAL.blinatumomab] })]);
  });

  it('refuses an unknown trial, an unknown status and an unknown field', async () => {
    expect((await setStatus(app, 'no-such-trial', 'paused')).statusCode).toBe(404);
    expect((await setStatus(app, TRIAL.bcma, 'on-hold')).statusCode).toBe(400);
    const extra = await app.inject({ method: 'PUT', url: `/trials/${TRIAL.bcma}/site-status`, payload: { status: 'paused', patientId: 'x' } });
    expect(extra.statusCode).toBe(400);
    expect(await cardTrials(app, 'sle-child-likely')).toContain(TRIAL.bcma);
  });

  it('names the site\'s study contact on the card, and a registry status not verified in 12 months as possibly stale', async () => {
    const bundle = exampleBundle('sle-child-likely');
    const res = await app.inject({ method: 'POST', url: SERVICE, payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
    const card = res.json().cards.find((c: any) => c.source.topic.code === TRIAL.bcma);
    // From config/site.example.json (DEMO=1 uses it when SITE_FILE is unset).
    expect(card.detail).toContain('**Study contact:** C. Example (Study coordinator), +1 555 0102, bcma-cd70-study@example.org.');
    // "Current as of November 14, 2025", screened on 2026-11-23: more than 12 months.
    expect(card.detail).toContain('Registry status possibly stale (not verified in 12 months).');
  });
});

describe('the site file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'trialstatus-site-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const siteFile = (content: unknown): string => {
    const file = join(dir, 'site.json');
    writeFileSync(file, JSON.stringify(content));
    return file;
  };
  const allOpen = Object.fromEntries(Object.values(TRIAL).map((id) => [id, { status: 'open' }]));

  it('sets each trial\'s default status: a trial the site does not take part in gives no card', async () => {
    const app = testApp({}, { SITE_FILE: siteFile({ site: 'Test site', trials: { ...allOpen, [TRIAL.cd19]: { status: 'not-participating' } } }) });
    try {
      expect(await cardTrials(app, 'sle-child-likely')).not.toContain(TRIAL.cd19);
      const cd19 = (await evaluated(app, 'sle-child-likely')).get(TRIAL.cd19);
      expect(cd19.availability).toMatchObject({ recruiting: false, site: { status: 'not-participating', source: 'site-file' } });
      expect(cd19.availability.why).toContain('this site does not take part');
    } finally {
      await app.close();
    }
  });

  it('stops the service when it misses a trial, names an unknown one, or has an unknown key', () => {
    const { [TRIAL.cd19]: _left, ...four } = allOpen;
    expect(() => testApp({}, { SITE_FILE: siteFile({ site: 'Test site', trials: four }) })).toThrow(/does not say the site's status for zju-cd19-car-t-csle/);
    expect(() => testApp({}, { SITE_FILE: siteFile({ site: 'Test site', trials: { ...allOpen, 'nct0000-typo': { status: 'open' } } }) })).toThrow(/trials\.nct0000-typo: no such trial/);
    expect(() => testApp({}, { SITE_FILE: siteFile({ site: 'Test site', trials: allOpen, staus: 'open' }) })).toThrow(/staus/);
    expect(() => testApp({}, { SITE_FILE: siteFile({ site: 'Test site', trials: { ...allOpen, [TRIAL.bcma]: { status: 'open', contact: { name: 'X', role: 'Y', email: 'not-an-email' } } } }) })).toThrow(/email/);
  });
});

describe('the site-status route with client authentication on', () => {
  const URL = `${BASE}/trials/${TRIAL.bcma}/site-status`;
  let ehr: TestIssuer;
  let coordinator: TestIssuer;
  let app: FastifyInstance;
  beforeAll(async () => {
    ehr = await makeIssuer('https://ehr.test');
    coordinator = await makeIssuer('https://research-office.test');
    const trust = writeTrust({
      issuers: [
        { issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } },
        { issuer: coordinator.issuer, jwks: { keys: [coordinator.publicJwk] }, roles: ['coordinator'] },
      ],
    });
    app = testApp({}, { AUTH_MODE: 'on', DEV_TRUST: '', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE });
  });
  afterAll(async () => app.close());
  const put = async (token?: string) =>
    app.inject({ method: 'PUT', url: `/trials/${TRIAL.bcma}/site-status`, payload: { status: 'paused' }, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('needs a client token, like every /trials route', async () => {
    expect((await put()).statusCode).toBe(401);
  });

  it('refuses an EHR whose issuer has no coordinator role: its token alone must not close a trial for every patient', async () => {
    const res = await put(await ehr.sign({ aud: URL, sub: 'dr-smith' }));
    expect(res.statusCode).toBe(403);
    expect(res.json().issue[0].diagnostics).toMatch(/coordinator role/);
    const status = await app.inject({ method: 'GET', url: '/trials/site-status', headers: { authorization: `Bearer ${await ehr.sign({ aud: `${BASE}/trials/site-status` })}` } });
    expect(status.json().trials.find((t: any) => t.trialId === TRIAL.bcma).site.status).toBe('open');
  });

  it('takes the change from a coordinator, naming who made it', async () => {
    const res = await put(await coordinator.sign({ aud: URL, sub: 'coordinator-jones' }));
    expect(res.statusCode).toBe(200);
    expect(res.json().site).toMatchObject({ status: 'paused', source: 'coordinator', setBy: 'coordinator-jones' });
  });
});
