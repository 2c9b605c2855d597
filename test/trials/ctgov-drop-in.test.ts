import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { ROOT, exampleBundle, testApp } from '../support/app.js';
import { TRIAL } from '../support/clinical.js';
import { hookRequest, patientIdOf, prefetchFor } from '../support/hook-request.js';

// Issue #19 item 3: a site drops in ClinicalTrials.gov API v2 study records (REGISTRY_RECORDS_DIR) to refresh
// the registry status; the fixtures are in the API's documented shape (fixtures/ctgov/README.md).
const FIXTURES = resolve(ROOT, 'test', 'trials', 'fixtures', 'ctgov');

async function cardTrials(app: FastifyInstance, exampleId: string): Promise<string[]> {
  const bundle = exampleBundle(exampleId);
  const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(patientIdOf(bundle), { prefetch: prefetchFor(bundle) }) });
  expect(res.statusCode).toBe(200);
  return res.json().cards.map((c: any) => c.source.topic.code);
}

describe('a ClinicalTrials.gov record dropped in by the site', () => {
  let dir: string;
  let app: FastifyInstance | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'trialstatus-ctgov-'));
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const withRecords = (...files: string[]): FastifyInstance => {
    for (const f of files) copyFileSync(join(FIXTURES, f), join(dir, f.split('/').pop()!));
    app = testApp({}, { REGISTRY_RECORDS_DIR: dir });
    return app;
  };

  it('refreshes a status the document gave as not yet recruiting: the trial is open again, and no longer stale', async () => {
    const a = withRecords('recruiting/belimumab-recruiting.json');
    expect(await cardTrials(a, 'sle-adult-belimumab')).toContain(TRIAL.belimumab);
    const status = (await a.inject({ method: 'GET', url: '/trials/site-status' })).json().trials.find((t: any) => t.trialId === TRIAL.belimumab);
    expect(status).toMatchObject({
      recruiting: true,
      registry: { status: 'RECRUITING', asPrinted: 'Recruiting', asOf: '2026-10', lastUpdate: '2026-10-20', source: 'ClinicalTrials.gov record belimumab-recruiting.json', stale: false },
    });
    const card = (await a.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: hookRequest(patientIdOf(exampleBundle('sle-adult-belimumab')), { prefetch: prefetchFor(exampleBundle('sle-adult-belimumab')) }) }))
      .json()
      .cards.find((c: any) => c.source.topic.code === TRIAL.belimumab);
    expect(card.detail).not.toContain('possibly stale');
  });

  it('hides a trial the registry now says is suspended, and its ResearchStudy says temporarily closed', async () => {
    const a = withRecords('bcma-suspended.json');
    expect(await cardTrials(a, 'sle-child-likely')).not.toContain(TRIAL.bcma);
    const study = (await a.inject({ method: 'GET', url: `/fhir/ResearchStudy/${TRIAL.bcma}` })).json();
    expect(study.status).toBe('temporarily-closed-to-accrual');
    expect(study.note.map((n: any) => n.text)).toContain('Not recruiting here: the registry says "Suspended" (as of 2026-11, ClinicalTrials.gov record bcma-suspended.json). No card is shown for this trial.');
  });

  it('ignores a record verified before the protocol document\'s date, and keeps the document\'s status', async () => {
    const a = withRecords('blinatumomab-old.json');
    expect(await cardTrials(a, 'sle-child-likely')).toContain(TRIAL.blinatumomab);
    const status = (await a.inject({ method: 'GET', url: '/trials/site-status' })).json().trials.find((t: any) => t.trialId === TRIAL.blinatumomab);
    expect(status.registry).toMatchObject({ status: 'RECRUITING', asOf: '2025-10-15', source: 'protocol document' });
  });

  it('stops the service on a file that is not one study record', () => {
    expect(() => withRecords('not-a-study.json')).toThrow(/not-a-study\.json: not a ClinicalTrials\.gov API v2 study record/);
  });

  it('calls a status verified 12 months or more before the evaluation possibly stale, counting a month from its first day', async () => {
    const { registryStale } = await import('../../src/trials/registry-status.js');
    // Screened on 2026-11-23 (ANCHOR).
    expect(registryStale({ asOf: '2025-11-24' }, ANCHOR)).toBe(false);
    expect(registryStale({ asOf: '2025-11-22' }, ANCHOR)).toBe(true);
    expect(registryStale({ asOf: '2025-11' }, ANCHOR)).toBe(true);
    expect(registryStale({ asOf: '2025-12' }, ANCHOR)).toBe(false);
    expect(registryStale({}, ANCHOR)).toBe(true);
  });
});
