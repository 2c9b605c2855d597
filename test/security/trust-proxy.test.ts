import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { closeServer, listen } from '../support/loopback.js';
import { testApp } from '../support/app.js';
import { BASE, makeIssuer, writeTrust, type TestIssuer } from './helpers.js';

/**
 * Issue #20 item 2: behind a reverse proxy every client shares the proxy's address. Without TRUST_PROXY one
 * client's bad tokens used the refused-token budget of every EHR behind it (86 of 91 calls of a legitimate EHR
 * answered 429). A real HTTP proxy on loopback stands in for nginx (deploy/nginx.conf): it forwards from
 * 127.0.0.1 and appends the client's address to X-Forwarded-For, as `proxy_add_x_forwarded_for` does. The
 * clients connect from distinct loopback addresses (127.0.0.2, 127.0.0.3), so each is its own address.
 */

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

/** One GET from a chosen local address, with the headers given. */
async function get(url: string, localAddress: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((ok, fail) => {
    const req = httpRequest(url, { method: 'GET', localAddress, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** nginx's `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`, from 127.0.0.1, Host kept. */
function startProxy(upstream: string): Server {
  const target = new URL(upstream);
  return createServer((req, res) => {
    const forwardedFor = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    const out = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, localAddress: '127.0.0.1', agent: false, headers: { ...req.headers, 'x-forwarded-for': forwardedFor } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => {
      res.statusCode = 502;
      res.end();
    });
    req.pipe(out);
  });
}

describe('behind a reverse proxy (TRUST_PROXY)', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function serviceBehindProxy(trustProxy: string | undefined, ehr: TestIssuer): Promise<{ proxy: string; direct: string }> {
    const trust = writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } }] });
    const app: FastifyInstance = testApp({}, { AUTH_MODE: 'on', TRUST_CONFIG: trust, PUBLIC_BASE_URL: BASE, RATE_LIMIT: 'on', AUTH_FAILURES_PER_MINUTE: '3', ...(trustProxy ? { TRUST_PROXY: trustProxy } : {}) });
    const direct = await app.listen({ port: 0, host: '127.0.0.1' });
    cleanup.push(async () => app.close());
    const proxyServer = startProxy(direct);
    const proxy = await listen(proxyServer);
    cleanup.push(async () => closeServer(proxyServer));
    return { proxy, direct };
  }

  it('keeps a legitimate EHR served while another client behind the same proxy is throttled for bad tokens', async () => {
    const ehr = await makeIssuer('https://ehr.example');
    const forger = await makeIssuer('https://ehr.example'); // the same iss, with keys the service does not trust
    const bearer = async (who: TestIssuer): Promise<Record<string, string>> => ({ authorization: `Bearer ${await who.sign({ aud: `${BASE}/trials` })}` });
    for (const [trustProxy, legitimate] of [[undefined, 429], ['127.0.0.1', 200]] as const) {
      const { proxy } = await serviceBehindProxy(trustProxy, ehr);
      for (let i = 0; i < 3; i++) expect((await get(`${proxy}/trials`, '127.0.0.2', await bearer(forger))).status).toBe(401);
      expect((await get(`${proxy}/trials`, '127.0.0.2', await bearer(forger))).status).toBe(429);
      // Without TRUST_PROXY both clients are the proxy's 127.0.0.1 (the defect); with it, each is its own address.
      expect((await get(`${proxy}/trials`, '127.0.0.3', await bearer(ehr))).status, `TRUST_PROXY=${trustProxy ?? '(unset)'}`).toBe(legitimate);
      for (const c of cleanup.splice(0).reverse()) await c();
    }
  });

  it('does not let a caller that is not a listed proxy choose its address by writing X-Forwarded-For', async () => {
    const ehr = await makeIssuer('https://ehr.example');
    const forger = await makeIssuer('https://ehr.example');
    const { direct } = await serviceBehindProxy('127.0.0.1', ehr);
    const forged = async (xff: string): Promise<Answer> =>
      get(`${direct}/trials`, '127.0.0.2', { authorization: `Bearer ${await forger.sign({ aud: `${BASE}/trials` })}`, 'x-forwarded-for': xff });
    for (let i = 0; i < 3; i++) expect((await forged(`10.9.9.${i}`)).status).toBe(401);
    // A fresh X-Forwarded-For each time does not buy a fresh budget: 127.0.0.2 is not a trusted proxy.
    expect((await forged('10.9.9.99')).status).toBe(429);
  });

  it('refuses a TRUST_PROXY that is not a list of addresses, ranges or proxy-addr names', () => {
    expect(() => testApp({}, { TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY lists addresses/);
    expect(() => testApp({}, { TRUST_PROXY: '127.0.0.1, loopback, 10.0.0.0/8, ::1' })).not.toThrow();
  });
});
