/**
 * Issue #19 item 2: the coordinator's worklist page, launched standalone through the real SMART launcher
 * (.ci/setup-smart-launcher.sh) in Debian's Chromium: fhirclient gets a user's token (provider standalone, no
 * patient, no login or approval screens), the service checks it by introspection at the launcher, and the page
 * shows the ranked candidates the real engine found for the example patients, and saves a state the
 * coordinator sets. Screenshots go to test-output/screenshots/ (looked at, never committed).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, prefetchFor } from '../support/hook-request.js';
import { freePort } from '../support/loopback.js';
import { exampleEntries } from '../support/screening-store-contract.js';
import { TS_NODE, startLauncher } from '../support/smart-launcher.js';
import { makeIssuer, writeTrust, type TestIssuer } from '../security/helpers.js';
import { launchBrowser, screenshotPath, startFhirServer, watchErrors } from './support.js';

const TRIAL = 'nct06934447-bcma-cd70-car-t';
const PATIENTS = ['sle-child-likely', 'sle-teen-missing-tests', 'sle-child-hiv-positive', 'adult-no-sle'];

/**
 * The launcher's options in its sim base URL (SOURCE.md's 17-element array): provider standalone (2), no patient,
 * one provider (no login), encounter NONE, login and approval screens skipped, public client, PKCE auto.
 */
function simCode(): string {
  return Buffer.from(JSON.stringify([2, '', 'example-practitioner', 'NONE', 1, 1, 0, '', '', '', '', '', '', '', 0, 1, ''])).toString('base64url');
}

const skip = inject('browserSkip') || (existsSync(TS_NODE) ? '' : `no SMART launcher at ${TS_NODE} (run .ci/setup-smart-launcher.sh)`);
const inCi = process.env.CI === 'true';

describe.skipIf(skip !== '' && !inCi)(`the coordinator's worklist page${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let launcher: ChildProcess | undefined;
  let fhir: Awaited<ReturnType<typeof startFhirServer>> | undefined;
  let app: FastifyInstance;
  let serviceUrl = '';
  let iss = '';
  /** An EHR the trust file names, to fire the hook as a CDS client (CDS Hooks 2.0 §Trusting CDS Clients). */
  let ehr: TestIssuer;

  beforeAll(async () => {
    expect(skip, skip).toBe('');
    fhir = await startFhirServer(exampleBundle('sle-child-likely'));
    const port = await freePort();
    const launcherUrl = `http://127.0.0.1:${port}`;
    launcher = await startLauncher(port, fhir.base);
    iss = `${launcherUrl}/v/r4/sim/${simCode()}/fhir`;
    ehr = await makeIssuer('https://ehr.example.org');
    const trust = writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } }], smartServers: [{ fhirBaseUrl: iss, introspectionUrl: `${launcherUrl}/v/r4/auth/introspect`, introspectionAuth: { type: 'token-itself' } }] });
    // The hook's client JWT names the URL called as its aud: the service's public base URL is its own address.
    const servicePort = await freePort();
    app = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: `http://127.0.0.1:${servicePort}` });
    serviceUrl = await app.listen({ host: '127.0.0.1', port: servicePort });
    // What a population job leaves for this server's patients (the real engine on the examples).
    await app.state.screening.put(PATIENTS.flatMap((p) => exampleEntries(p, 'job-1', `digest-${p}`, iss)));
  });

  afterAll(async () => {
    await app?.close();
    if (launcher && launcher.exitCode === null) {
      launcher.removeAllListeners('exit');
      launcher.kill('SIGTERM');
    }
    await fhir?.close();
  });

  async function openWorklist(page: Page): Promise<void> {
    await page.goto(`${serviceUrl}/coordinator/launch.html?iss=${encodeURIComponent(iss)}`);
    await page.waitForURL(/\/coordinator\/index\.html/, { timeout: 30_000 });
    await page.locator('[data-testid="worklist"] table').waitFor({ timeout: 60_000 });
  }

  it('shows a SMART user the ranked candidates of a trial, and saves the state the coordinator sets, with who set it', async () => {
    const { context, close } = await launchBrowser(inject('chromiumPath'));
    try {
      const page = await context.newPage();
      const errors = watchErrors(page);
      await openWorklist(page);
      expect(await page.locator('[data-testid="user"]').textContent()).toBe('Signed in as Practitioner/example-practitioner');
      await page.locator(`[data-trial="${TRIAL}"]`).click();
      await page.getByRole('heading', { level: 2, name: /BCMA\/CD70/ }).waitFor();
      const expected = PATIENTS.flatMap((p) => exampleEntries(p, 'x'))
        .filter((e) => e.trialId === TRIAL && e.status !== 'ineligible')
        .sort((a, b) => a.openItems.length - b.openItems.length || a.patientId.localeCompare(b.patientId));
      const rows = page.locator('table.worklist tbody tr');
      expect(await rows.count()).toBe(expected.length);
      for (const [i, e] of expected.entries()) {
        const row = rows.nth(i);
        expect(await row.getAttribute('data-testid')).toBe(`candidate-${e.patientId}`);
        expect(await row.locator('td').nth(2).textContent()).toBe('Possibly eligible');
        expect(await row.locator('td').nth(3).textContent()).toContain(`${e.openItems.length} open`);
      }
      await page.screenshot({ path: screenshotPath('worklist'), fullPage: true });
      const first = expected[0]!.patientId;
      await page.locator(`[data-testid="state-${first}"]`).selectOption('contacted');
      await page.getByText('by Practitioner/example-practitioner').waitFor({ timeout: 20_000 });
      expect(await page.locator(`[data-testid="state-${first}"]`).inputValue()).toBe('contacted');
      const stored = await app.state.patientStates.forTrial(TRIAL);
      expect(stored).toEqual([expect.objectContaining({ patientId: first, state: 'contacted', setBy: { issuer: iss, subject: 'Practitioner/example-practitioner' } })]);
      await page.screenshot({ path: screenshotPath('worklist-state-set'), fullPage: true });
      // Nothing of the patients is kept in the browser beyond fhirclient's own launch state.
      expect(await page.evaluate<string[]>('Object.keys(localStorage)')).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });

  /** The trials the example child's patient-view hook gives a card for, through the real route with a client JWT. */
  async function cardTrials(): Promise<string[]> {
    const url = `${serviceUrl}/cds-services/trialmatch-sle`;
    const payload = hookRequest('sle-child-likely', { prefetch: prefetchFor(exampleBundle('sle-child-likely')) });
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await ehr.sign({ aud: url })}` }, body: JSON.stringify(payload) });
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as { cards: { source: { topic: { code: string } } }[] }).cards.map((c) => c.source.topic.code);
  }

  it('pauses a trial with the page\'s site-status control: the worklist says so and why, the hook gives no card for it, and opening it again restores the card', async () => {
    expect(await cardTrials()).toContain(TRIAL);
    const { context, close } = await launchBrowser(inject('chromiumPath'));
    try {
      const page = await context.newPage();
      const errors = watchErrors(page);
      await openWorklist(page);
      await page.locator(`[data-trial="${TRIAL}"]`).click();
      await page.getByRole('heading', { level: 2, name: /BCMA\/CD70/ }).waitFor();
      const site = page.getByTestId('site');
      expect(await site.getAttribute('data-recruiting')).toBe('true');
      expect(await site.getByTestId('no-cards-why').count()).toBe(0);
      expect(await site.getByTestId('site-status-select').inputValue()).toBe('open');
      expect(await site.getByTestId('registry-status').textContent()).toMatch(/^Registry: .+, as of \d{4}-\d{2}-\d{2} \(protocol document\)/);
      expect(await site.getByTestId('study-contact').textContent()).toBe('Study contact: C. Example (Study coordinator), +1 555 0102, bcma-cd70-study@example.org');

      await site.getByTestId('site-status-select').selectOption('paused');
      await site.getByTestId('site-status-reason').fill('sponsor hold');
      await site.getByTestId('site-status-save').click();
      await page.locator('[data-testid="site"][data-recruiting="false"]').waitFor({ timeout: 20_000 });
      expect(await page.getByTestId('no-cards-why').textContent()).toMatch(/^No card for this trial\. Not recruiting here: paused at this site since \d{4}-\d{2}-\d{2} \(sponsor hold\)\.$/);
      expect(await page.getByTestId('site-status-select').inputValue()).toBe('paused');
      expect(await page.getByTestId('site-status-source').textContent()).toMatch(/^set by Practitioner\/example-practitioner, \d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
      expect(await page.locator(`[data-trial="${TRIAL}"] [data-testid="not-recruiting"]`).textContent()).toBe('Not recruiting here: no cards');
      // The candidates stay on the worklist: the trial, not the patients, changed.
      expect(await page.locator('table.worklist tbody tr').count()).toBeGreaterThan(0);
      const stored = (await app.state.siteStatus.current()).get(TRIAL);
      expect(stored).toEqual(expect.objectContaining({ status: 'paused', reason: 'sponsor hold', issuer: iss, subject: 'Practitioner/example-practitioner' }));
      await page.screenshot({ path: screenshotPath('worklist-trial-paused'), fullPage: true });
      expect(await cardTrials()).not.toContain(TRIAL);

      await page.getByTestId('site-status-select').selectOption('open');
      await page.getByTestId('site-status-reason').fill('');
      await page.getByTestId('site-status-save').click();
      await page.locator('[data-testid="site"][data-recruiting="true"]').waitFor({ timeout: 20_000 });
      expect(await page.getByTestId('no-cards-why').count()).toBe(0);
      expect(await page.locator(`[data-trial="${TRIAL}"] [data-testid="not-recruiting"]`).count()).toBe(0);
      expect(await cardTrials()).toContain(TRIAL);
      await page.screenshot({ path: screenshotPath('worklist-trial-reopened'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });
});
