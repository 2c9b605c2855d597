import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '..', '..');
/** Screenshots and other browser artefacts: looked at by the engineer, never committed (.gitignore). */
export const ARTIFACTS = resolve(ROOT, 'test-output', 'screenshots');

/** Debian's Chromium, headless, with a profile of its own that is thrown away afterwards. */
export async function launchBrowser(executablePath: string): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(resolve(tmpdir(), 'trialmatch-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 1000 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The page and the errors it reported, for the test that is running. */
export interface DemoPage {
  readonly page: Page;
  readonly errors: string[];
}

/**
 * The hooks every test of the demo page needs: one Chromium for the file, a fresh tab per test opened at the
 * demo page with its example buttons shown, and no page error left at the end of each test (a test that
 * expects refusals empties `errors` itself). `beforeClose` runs before the browser closes (e.g. to leave the
 * shared service as it was). Call it inside the describe block; read `page` and `errors` in the test's own
 * beforeEach (registered after these, so it runs after).
 */
export function useDemoPage(baseUrl: string, chromiumPath: string, beforeClose?: () => Promise<unknown>): DemoPage {
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  let current: DemoPage | undefined;
  beforeAll(async () => {
    browser = await launchBrowser(chromiumPath);
  });
  afterAll(async () => {
    await beforeClose?.();
    await browser?.close();
  });
  beforeEach(async () => {
    const page = await browser!.context.newPage();
    current = { page, errors: watchErrors(page) };
    await page.goto(`${baseUrl}/`);
    await page.locator('button.example').first().waitFor();
  });
  afterEach(async () => {
    expect(current?.errors).toEqual([]);
    await current?.page.close();
  });
  return {
    get page(): Page {
      return current!.page;
    },
    get errors(): string[] {
      return current!.errors;
    },
  };
}

/** Waits until the demo page has shown the answer of both calls (cards and criteria), or an error for them. */
export async function waitForResults(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const d = (globalThis as any).document;
    return !d.querySelector('[aria-busy="true"]') && /^Done/.test(d.getElementById('status')?.textContent ?? '');
  });
}

/** Errors the page reports (script errors, CSP refusals, failed loads): a working page has none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

/**
 * Calls the service from the test the way the page does: a development token for the URL when the service
 * offers one (authentication on), none when /dev/token is absent (404).
 */
export async function api(baseUrl: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const url = `${baseUrl}${path}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (/^\/(cds-services|trials)(\/|$)/.test(path)) {
    const token = await fetch(`${baseUrl}/dev/token?aud=${encodeURIComponent(url)}`);
    if (token.status === 200) headers.authorization = `Bearer ${((await token.json()) as { token: string }).token}`;
    else expect(token.status).toBe(404);
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: await res.json() };
}

export function screenshotPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return resolve(ARTIFACTS, `${name}.png`);
}

/** Whole years from a FHIR birthDate to today: computed here independently of the page's own code. */
export function ageOf(birthDate: string, now = new Date()): number {
  const [y, m, d] = birthDate.split('-').map(Number) as [number, number, number];
  const beforeBirthday = now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d);
  return now.getUTCFullYear() - y - (beforeBirthday ? 1 : 0);
}

/**
 * A stand-in for an EHR's FHIR server, serving one patient's Bundle: the reads and searches the service's
 * prefetch templates make (Patient/{id}, {Type}?patient={id}&…). An external system, so a stand-in is fair.
 */
export async function startFhirServer(bundle: Bundle): Promise<{ base: string; requests: string[]; close: () => Promise<void> }> {
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${req.method} ${url.pathname}`);
    const path = url.pathname.replace(/^\/fhir\//, '');
    const [type, id] = path.split('/');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(body));
    };
    if (id) {
      const found = resources.find((r) => r.resourceType === type && r.id === id);
      if (found) send(200, found);
      else send(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
      return;
    }
    const matches = resources.filter((r) => r.resourceType === type);
    send(200, { resourceType: 'Bundle', type: 'searchset', total: matches.length, entry: matches.map((resource) => ({ resource, search: { mode: 'match' } })) });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { base: `http://127.0.0.1:${port}/fhir`, requests, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}
