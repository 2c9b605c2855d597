import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT, testApp } from '../support/app.js';
import { TRIAL } from '../support/clinical.js';

// Issue #19 item 3: each trial as a FHIR R4 ResearchStudy whose status is the site's, its `enrollment` a Group
// with one characteristic per protocol item, after the EBM-on-FHIR StudyEligibilityCriteria profile.
const mappings = loadMappings({ dir: resolve(ROOT, 'fhir-mappings') });
const LISTS = new Set(readdirSync(resolve(ROOT, 'fhir-mappings', 'valuesets')).map((f) => `https://trialmatch-cds.org/fhir/ValueSet/${f.replace(/\.json$/, '')}`));
const DESCRIPTION = 'https://trialmatch-cds.org/fhir/StructureDefinition/characteristic-description';
const DEFINITION = 'https://trialmatch-cds.org/fhir/StructureDefinition/characteristic-definition-canonical';

describe('the trials as FHIR ResearchStudy and Group', () => {
  let app: FastifyInstance;
  beforeAll(() => {
    app = testApp();
  });
  afterAll(async () => app.close());
  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    return res.json();
  };

  it('lists every trial in a searchset Bundle', async () => {
    const bundle = await get('/fhir/ResearchStudy');
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 5 });
    expect(bundle.entry.map((e: any) => e.resource.id).sort()).toEqual(Object.values(TRIAL).sort());
  });

  it('says the site\'s status in R4 ResearchStudy.status codes, with the registry status and its date beside it', async () => {
    const bcma = await get(`/fhir/ResearchStudy/${TRIAL.bcma}`);
    expect(bcma).toMatchObject({
      resourceType: 'ResearchStudy',
      status: 'active',
      identifier: [{ system: 'urn:trialmatch-cds:trial', value: TRIAL.bcma }, { system: 'http://clinicaltrials.gov', value: 'NCT06934447' }],
      contact: [{ name: 'C. Example (Study coordinator)', telecom: [{ system: 'phone', value: '+1 555 0102' }, { system: 'email', value: 'bcma-cd70-study@example.org' }] }],
      enrollment: [{ reference: `Group/${TRIAL.bcma}-eligibility` }],
    });
    expect(bcma.note[0].text).toBe('Registry status: Recruiting, as of 2025-11-14 (protocol document). Possibly stale: not verified in the last 12 months.');
    // Not yet recruiting in its document: approved, not active.
    expect((await get(`/fhir/ResearchStudy/${TRIAL.belimumab}`)).status).toBe('approved');

    await app.inject({ method: 'PUT', url: `/trials/${TRIAL.bcma}/site-status`, payload: { status: 'paused' } });
    const paused = await get(`/fhir/ResearchStudy/${TRIAL.bcma}`);
    expect(paused.status).toBe('temporarily-closed-to-accrual');
    expect(paused.extension).toContainEqual({ url: 'https://trialmatch-cds.org/fhir/StructureDefinition/site-status', valueCode: 'paused' });
    await app.inject({ method: 'PUT', url: `/trials/${TRIAL.bcma}/site-status`, payload: { status: 'not-participating' } });
    expect((await get(`/fhir/ResearchStudy/${TRIAL.bcma}`)).status).toBe('closed-to-accrual');
    await app.inject({ method: 'PUT', url: `/trials/${TRIAL.bcma}/site-status`, payload: { status: 'open' } });
  });

  it.each(mappings.trials.map((t) => [t.id, t] as const))('%s: its Group holds one characteristic per protocol item, exclusions excluded, text verbatim, coded items by their lists\' canonical URLs', async (_id, trial) => {
    const study = await get(`/fhir/ResearchStudy/${trial.id}`);
    const group = await get(`/fhir/${study.enrollment[0].reference}`);
    expect(group).toMatchObject({ resourceType: 'Group', type: 'person', actual: false });
    expect(group.characteristic).toHaveLength(trial.criteria.length);
    trial.criteria.forEach((c, i) => {
      const ch = group.characteristic[i];
      expect(ch.code.coding[0]).toMatchObject({ system: 'urn:trialmatch-cds:criterion', code: c.id });
      expect(ch.exclude).toBe(c.type === 'exclusion');
      expect(ch.valueBoolean).toBe(true);
      expect(ch.extension.find((e: any) => e.url === DESCRIPTION).valueMarkdown).toBe(c.text);
      for (const e of ch.extension.filter((x: any) => x.url === DEFINITION)) expect(LISTS).toContain(e.valueCanonical);
    });
    // Some items are coded (a diagnosis, a drug, a test), some are not (consent): both are in the Group.
    const coded = group.characteristic.filter((ch: any) => ch.extension.some((e: any) => e.url === DEFINITION));
    expect(coded.length).toBeGreaterThan(0);
  });

  it('serves the study contact as a PractitionerRole a referral can be addressed to', async () => {
    const role = await get(`/fhir/PractitionerRole/${TRIAL.blinatumomab}-study-contact`);
    expect(role).toMatchObject({
      resourceType: 'PractitionerRole',
      active: true,
      practitioner: { display: 'A. Example' },
      code: [{ text: 'Study coordinator' }],
      telecom: [{ system: 'phone', value: '+1 555 0100', use: 'work' }, { system: 'email', value: 'blinatumomab-study@example.org', use: 'work' }],
      extension: [{ url: 'https://trialmatch-cds.org/fhir/StructureDefinition/study-contact-for', valueReference: { reference: `ResearchStudy/${TRIAL.blinatumomab}` } }],
    });
  });

  it('answers 404 with an OperationOutcome for a study, group or contact it does not have', async () => {
    for (const url of ['/fhir/ResearchStudy/nope', '/fhir/Group/nope', '/fhir/PractitionerRole/nope']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.json().resourceType).toBe('OperationOutcome');
    }
  });
});
