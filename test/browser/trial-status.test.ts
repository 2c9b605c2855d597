import type { Page } from 'playwright-core';
import { beforeEach, describe, expect, inject, it } from 'vitest';
import { api, screenshotPath, useDemoPage, waitForResults } from './support.js';

// Issue #19 item 3: a trial not recruiting here (its registry, or the site's own status) has no card; the page
// the demo and the SMART app share (public/render.js) says why, names the study contact, and marks a registry
// status not verified in 12 months as possibly stale.
const baseUrl = inject('baseUrl');
const skip = inject('browserSkip');
const BCMA = 'nct06934447-bcma-cd70-car-t';
const BELIMUMAB = 'nct04893161-belimumab-response';

/** A coordinator's change through the service's route, with a development token as the page's calls have. */
async function setSiteStatus(trialId: string, status: string, reason?: string): Promise<number> {
  const url = `${baseUrl}/trials/${trialId}/site-status`;
  const token = await fetch(`${baseUrl}/dev/token?aud=${encodeURIComponent(url)}`);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token.status === 200) headers.authorization = `Bearer ${((await token.json()) as { token: string }).token}`;
  const res = await fetch(url, { method: 'PUT', headers, body: JSON.stringify({ status, ...(reason ? { reason } : {}) }) });
  return res.status;
}

async function showExample(page: Page, id: string): Promise<void> {
  await page.locator(`button[data-example="${id}"]`).click();
  await waitForResults(page);
}

describe.skipIf(Boolean(skip))('trial status on the page the apps share, in Chromium', () => {
  // The service is shared with the other browser test files: leave the trial open as it was.
  const demo = useDemoPage(baseUrl, inject('chromiumPath'), () => setSiteStatus(BCMA, 'open'));
  let page: Page;
  beforeEach(() => {
    ({ page } = demo);
  });

  it('shows why a paused trial has no card, whom to contact, and that the registry status may be stale', async () => {
    expect(await setSiteStatus(BCMA, 'paused', 'sponsor hold')).toBe(200);
    await showExample(page, 'sle-child-likely');
    const topics = await page.getByTestId('card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-topic')));
    expect(topics).not.toContain(BCMA);
    expect(topics.length).toBeGreaterThan(0);
    const section = page.locator(`[data-testid="trial"][data-trial="${BCMA}"]`);
    expect(await section.getByTestId('not-recruiting').textContent()).toBe(' Not recruiting here');
    const site = section.getByTestId('site-status');
    expect(await site.getAttribute('data-recruiting')).toBe('false');
    expect(await site.getByTestId('site-status-why').textContent()).toMatch(/^No card for this trial\. Not recruiting here: paused at this site since \d{4}-\d{2}-\d{2} \(sponsor hold\)\.$/);
    expect(await site.getByTestId('study-contact').textContent()).toBe('Study contact: C. Example (Study coordinator), +1 555 0102, bcma-cd70-study@example.org');
    expect(await site.getByTestId('registry-status').textContent()).toContain('(possibly stale: not verified in the last 12 months)');
    // The card of a trial still recruiting names its contact too.
    const card = page.locator('[data-testid="card"][data-topic="nct06789107-blinatumomab"]');
    expect(await card.locator('.card-detail').innerText()).toContain('Study contact: A. Example (Study coordinator)');
    await page.screenshot({ path: screenshotPath('trial-status-paused'), fullPage: true });
    // The parts a person looks at: the paused trial's heading and site block, and a card naming its contact.
    await section.locator('summary').first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshotPath('trial-status-paused-section') });
    await card.screenshot({ path: screenshotPath('trial-status-card-contact') });

    expect(await setSiteStatus(BCMA, 'open')).toBe(200);
    await showExample(page, 'sle-child-likely');
    expect(await page.locator(`[data-testid="card"][data-topic="${BCMA}"]`).count()).toBe(1);
    expect(await page.locator(`[data-trial="${BCMA}"] [data-testid="site-status"]`).getAttribute('data-recruiting')).toBe('true');
  });

  it('shows why the belimumab study, not yet recruiting in its registry, has no card', async () => {
    await showExample(page, 'sle-adult-belimumab');
    expect(await page.locator(`[data-testid="card"][data-topic="${BELIMUMAB}"]`).count()).toBe(0);
    const why = await page.locator(`[data-trial="${BELIMUMAB}"] [data-testid="site-status-why"]`).textContent();
    expect(why).toBe('No card for this trial. Not recruiting here: the registry says "Not yet recruiting" (as of 2025-11-14, protocol document).');
    const status = (await api(baseUrl, 'POST', '/trials/$evaluate', (await api(baseUrl, 'GET', '/examples/sle-adult-belimumab/bundle')).json)).json;
    expect(status.trials.find((t: any) => t.trialId === BELIMUMAB).status).toBe('possibly-eligible');
    await page.locator(`[data-trial="${BELIMUMAB}"] summary`).first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshotPath('trial-status-not-yet-recruiting') });
  });
});
