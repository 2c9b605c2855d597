/**
 * The CDS Hooks sandbox (github.com/cds-hooks/sandbox, built in ../shared/tools/cds-hooks-sandbox/) as a real
 * CDS client for the tests (issue #11 item 5): the folder served read-only on 127.0.0.1, the service started
 * the way `npm start` starts it but with the test trust file, and the sandbox's own signing key for the calls
 * the test makes as that client. What the sandbox does was read from its app.bundle.js and checked by these
 * tests: see the notes at each helper.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, importPKCS8, type CryptoKey, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { Locator, Page } from 'playwright-core';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ANCHOR } from '../../scripts/fhir-builders.js';
import { ROOT } from './app.js';
import { closeServer, freePort, listen } from './loopback.js';

/** The tools sit beside the clone (../shared), in CI and on a developer's machine alike; CDS_HOOKS_SANDBOX_DIR points elsewhere. */
export const SANDBOX_DIR = process.env.CDS_HOOKS_SANDBOX_DIR ?? resolve(ROOT, '..', 'shared', 'tools', 'cds-hooks-sandbox');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const TEST_TRUST_FILE = resolve(ROOT, 'config', 'trust.test.json');
export const SANDBOX_ISSUER = 'https://sandbox.cds-hooks.org';
export const SANDBOX_KID = '44823f3d-0b01-4a6c-a80e-b9d3e8a7226f';
export const SERVICE_ID = 'trialmatch-sle';

/**
 * Why the sandbox tests cannot run here, or '' when they can. In CI (CI=true) a missing browser or sandbox is
 * a failure, not a skip, so a CI machine that lost either never passes silently.
 */
export function sandboxUnavailable(): string {
  const missing: string[] = [];
  if (!existsSync(CHROMIUM)) missing.push(`Chromium not found at ${CHROMIUM} (bash .ci/setup-browser.sh, or set CHROMIUM_PATH)`);
  if (!existsSync(join(SANDBOX_DIR, 'index.html')) || !existsSync(join(SANDBOX_DIR, 'app.bundle.js'))) {
    missing.push(`the built CDS Hooks sandbox is not in ${SANDBOX_DIR} (set CDS_HOOKS_SANDBOX_DIR)`);
  }
  const reason = missing.join('; ');
  if (reason && process.env.CI === 'true') throw new Error(`CI=true but the sandbox tests cannot run: ${reason}`);
  return reason;
}

export interface Running {
  url: string;
  close: () => Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * A static file server over the sandbox folder (read-only: only GET and HEAD, nothing outside the folder), as
 * its README's `python3 -m http.server` does. The sandbox is a single-page app: `/` is index.html.
 */
export async function serveSandbox(dir: string = SANDBOX_DIR): Promise<Running> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file.startsWith(root + sep) || !existsSync(file)) {
      // index.html asks for a styles.css the build does not produce (README "Known quirks"): a 404, harmless.
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : readFileSync(file));
  });
  const url = await listen(server);
  return { url, close: () => closeServer(server) };
}

/** What reached the service's HTTP server, before fastify: so CORS preflights, which @fastify/cors answers in a hook, are seen too. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface RunningService extends Running {
  app: FastifyInstance;
  feedbackFile: string;
  /** Every request the service received, in order. */
  seen: SeenRequest[];
}

export interface ServiceOptions {
  /**
   * Changes to the test trust file for this run, e.g. the sandbox's origin once the trust file lists CORS
   * origins. The file itself is copied to a temporary directory, so the change never touches config/.
   */
  trust?: (trust: Record<string, unknown>) => Record<string, unknown>;
  /** Extra environment for loadConfig. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The real service on 127.0.0.1, configured through its environment as in production: TRUST_CONFIG a temporary
 * copy of config/trust.test.json, FEEDBACK_FILE in a temporary directory, PUBLIC_BASE_URL the address the
 * sandbox calls. The clock is the examples' anchor date (the integration tests load the examples unshifted),
 * so cards compare to the letter with testApp's full-prefetch baseline on any day.
 */
export async function startService(options: ServiceOptions = {}): Promise<RunningService> {
  const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-sandbox-'));
  const trust = JSON.parse(readFileSync(TEST_TRUST_FILE, 'utf8')) as Record<string, unknown>;
  const trustFile = join(dir, 'trust.json');
  writeFileSync(trustFile, JSON.stringify(options.trust ? options.trust(trust) : trust, null, 2));
  const feedbackFile = join(dir, 'feedback.jsonl');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    AUTH_MODE: 'on',
    TRUST_CONFIG: trustFile,
    FEEDBACK_FILE: feedbackFile,
    PUBLIC_BASE_URL: url,
    ...options.env,
  });
  const app = buildApp({ config, clock: () => ANCHOR });
  const seen: SeenRequest[] = [];
  app.server.prependListener('request', (req: { method?: string; url?: string; headers: IncomingHttpHeaders }) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
  });
  await app.listen({ port, host: '127.0.0.1' });
  return {
    url,
    app,
    feedbackFile,
    seen,
    close: async () => {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The feedback journal's feedback lines (src/store/feedback-store.ts), as the service wrote them. */
export function journalFeedback(file: string): { card: string; trialId: string; outcome: string; reason?: string }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { t: string; card: string; trialId: string; outcome: string; reason?: string })
    .filter((e) => e.t === 'feedback');
}

let sandboxKey: Promise<CryptoKey> | undefined;

/**
 * The sandbox's signing key, read from its own bundle (app.bundle.js signs in the browser with a PKCS#8 key
 * it carries; the key is public in its repository). The test signs with it only to read the service's
 * feedback counts as the same client; the key is not copied into this repository.
 */
export async function sandboxSigningKey(dir: string = SANDBOX_DIR): Promise<CryptoKey> {
  sandboxKey ??= (async () => {
    const bundle = readFileSync(join(dir, 'app.bundle.js'), 'utf8');
    const m = /"(-----BEGIN PRIVATE KEY-----(?:\\n|[A-Za-z0-9+/=])+-----END PRIVATE KEY-----)/.exec(bundle);
    if (!m) throw new Error(`no PKCS#8 private key found in ${dir}/app.bundle.js`);
    return importPKCS8((m[1] as string).replaceAll('\\n', '\n'), 'ES384', { extractable: true });
  })();
  return sandboxKey;
}

/** The public half of the bundle's key, to check it is the key config/trust.test.json trusts. */
export async function sandboxPublicJwk(): Promise<{ x?: string; y?: string; crv?: string }> {
  const { x, y, crv } = await exportJWK(await sandboxSigningKey());
  return { x, y, crv };
}

/** A token as the sandbox makes one (the same header and claims: see sandboxToken's use in the tests). */
export async function sandboxToken(aud: string): Promise<string> {
  return new SignJWT({ jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: SANDBOX_KID, jku: `${SANDBOX_ISSUER}/.well-known/jwks.json` })
    .setIssuer(SANDBOX_ISSUER)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime('300s')
    .sign(await sandboxSigningKey());
}

/** GET a protected route of the service as the sandbox's issuer. */
export async function getAsSandbox(service: RunningService, path: string): Promise<{ status: number; json: any }> {
  const url = `${service.url}${path}`;
  const res = await fetch(url, { headers: { accept: 'application/json', authorization: `Bearer ${await sandboxToken(url)}` } });
  return { status: res.status, json: await res.json() };
}

export function decodeBearer(authorization: string | string[] | undefined): { header: ProtectedHeaderParameters; claims: JWTPayload } {
  const token = String(authorization ?? '').replace(/^Bearer\s+/i, '');
  return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
}

/** One hook call the sandbox made, seen in the browser: the request it sent and the cards it got. */
export interface HookExchange {
  request: any;
  status: number;
  cards: any[];
}

/** One feedback POST the sandbox made, seen in the browser. */
export interface FeedbackExchange {
  body: any;
  status: number;
  /** What the service says it recorded (issue #12 item 3: stored, duplicates, unknownCards, rejected, suppressed). */
  receipt: any;
}

/** The URL that opens the sandbox on a patient with the FHIR server and the service's discovery URL (README "Running it"). */
export function sandboxUrl(sandbox: Running, fhirBaseUrl: string, patientId: string, serviceUrl: string): string {
  const q = new URLSearchParams({ fhirServiceUrl: fhirBaseUrl, patientId, serviceDiscoveryURL: `${serviceUrl}/cds-services` });
  return `${sandbox.url}/?${q.toString()}`;
}

/**
 * Opens the sandbox on a patient (a chart open: a new page in the same browser profile, so the sandbox's
 * localStorage persists as it would for one user) and waits until it has fired patient-view at the service and
 * rendered the answer: the service's cards, or its "No recommendations" placeholder.
 */
export async function openChart(page: Page, url: string, serviceUrl: string): Promise<HookExchange> {
  const hookUrl = `${serviceUrl}/cds-services/${SERVICE_ID}`;
  const answered = page.waitForResponse((r) => r.url() === hookUrl && r.request().method() === 'POST', { timeout: 60_000 });
  await page.goto(url);
  const response = await answered;
  const body = (await response.json()) as { cards?: any[] };
  const exchange: HookExchange = { request: response.request().postDataJSON(), status: response.status(), cards: body.cards ?? [] };
  const view = page.locator('[class*="patient-view__patient-view"]');
  if (exchange.cards.length > 0) {
    await cardsOn(page).nth(exchange.cards.length - 1).waitFor({ state: 'visible' });
  } else {
    await view.getByText('No recommendations to display').waitFor({ state: 'visible' });
  }
  return exchange;
}

/** The card elements on the sandbox's patient view (its CSS module class card-list__decision-card___…). */
export function cardsOn(page: Page): Locator {
  return page.locator('[class*="patient-view__patient-view"] [class*="card-list__decision-card"]');
}

/** The summaries as the sandbox shows them: the first Typography of each card (it pads them with spaces). */
export async function renderedSummaries(page: Page): Promise<string[]> {
  const cards = cardsOn(page);
  const out: string[] = [];
  for (let i = 0; i < (await cards.count()); i++) {
    out.push((await cards.nth(i).locator('.MuiTypography-root').first().innerText()).trim());
  }
  return out;
}

/** The card whose summary is `summary`. */
export function cardWithSummary(page: Page, summary: string): Locator {
  return cardsOn(page).filter({ has: page.locator('.MuiTypography-root').first().getByText(summary, { exact: true }) });
}

/** The sandbox's feedback POST for the next click: waits for the service's answer. */
export function nextFeedback(page: Page, serviceUrl: string): Promise<FeedbackExchange> {
  const feedbackUrl = `${serviceUrl}/cds-services/${SERVICE_ID}/feedback`;
  return page
    .waitForResponse((r) => r.url() === feedbackUrl && r.request().method() === 'POST', { timeout: 30_000 })
    .then(async (r) => ({ body: r.request().postDataJSON(), status: r.status(), receipt: await r.json().catch(() => undefined) }));
}

/**
 * Overrides a card with one of the service's override reasons: the caret beside Dismiss (aria-label "select
 * dismiss reason") opens a menu of the card's overrideReasons as "Override: <display>".
 */
export async function overrideCard(page: Page, card: Locator, display: string): Promise<void> {
  await card.getByRole('button', { name: 'select dismiss reason' }).click();
  await page.getByRole('menuitem', { name: `Override: ${display}` }).click();
}

export async function dismissCard(card: Locator): Promise<void> {
  await card.getByRole('button', { name: 'Dismiss', exact: true }).click();
}
