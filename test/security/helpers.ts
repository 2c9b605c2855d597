import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

/** A real HTTP server on 127.0.0.1 that records every request it gets (a FHIR server or JWKS host double). */
export interface RecordingServer {
  url: string;
  calls: string[];
  close(): Promise<void>;
}

export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<RecordingServer> {
  const calls: string[] = [];
  const server: Server = createServer((req, res) => {
    calls.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Answers FHIR reads and searches from one patient's bundle: Patient/{id}, and {Type}?patient=... as a searchset. */
export function fhirFromBundle(bundle: Bundle): (req: IncomingMessage, res: ServerResponse) => void {
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [type, id] = url.pathname.split('/').filter(Boolean).slice(-2);
    res.setHeader('content-type', 'application/fhir+json');
    if (id && type === 'Patient') {
      const p = resources.find((r) => r.resourceType === 'Patient' && r.id === id);
      res.statusCode = p ? 200 : 404;
      res.end(JSON.stringify(p ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] }));
      return;
    }
    const searchType = url.pathname.split('/').filter(Boolean).pop();
    const matches = resources.filter((r) => r.resourceType === searchType);
    res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: matches.length, entry: matches.map((resource) => ({ resource })) }));
  };
}

export interface TestIssuer {
  issuer: string;
  kid: string;
  alg: 'ES384' | 'RS256' | 'PS256';
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** Signs a client JWT; claims and header fields can be overridden or removed (set to undefined). */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

export async function makeIssuer(issuer: string, alg: TestIssuer['alg'] = 'ES384'): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `kid-${randomUUID()}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return {
    issuer,
    kid,
    alg,
    privateKey,
    publicJwk,
    sign: (claims, header = {}) => {
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { iss: issuer, sub: 'client', iat: now, exp: now + 300, jti: randomUUID(), ...claims };
      for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
      return new SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'JWT', ...header }).sign(privateKey);
    },
  };
}

/** Writes a trust file in a fresh temporary directory and answers its path. */
export function writeTrust(trust: unknown): string {
  const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-trust-'));
  const file = resolve(dir, 'trust.json');
  writeFileSync(file, JSON.stringify(trust, null, 2));
  return file;
}

export const BASE = 'http://cds.test';
