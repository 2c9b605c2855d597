import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';

/**
 * SMART Backend Services (SMART App Launch 2.x, https://hl7.org/fhir/smart-app-launch/backend-services.html):
 * the client-credentials grant with a private-key JWT client assertion (RFC 7523), signed RS384 or ES384.
 * The access token is reused until shortly before it expires; neither it nor the key is ever logged.
 */
export interface BackendServicesClient {
  clientId: string;
  /** The client's private key as a JWK, with `alg` (RS384 or ES384) and `kid` (the server finds the public key by it). */
  privateJwk: JWK;
  /** The scopes asked, space-separated (system/Patient.read …). */
  scope: string;
  /** The token endpoint; when absent, read from the FHIR server's .well-known/smart-configuration. */
  tokenUrl?: string;
}

/** The signing algorithms Backend Services requires servers to support (§Protocol details). */
const ALGORITHMS = new Set(['RS384', 'ES384']);

/** Renew this long before the token's expiry, so a request never carries one that expires on the way. */
const EXPIRY_MARGIN_MS = 30_000;

export class BackendServicesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendServicesError';
  }
}

/** The token endpoint the server advertises (SMART App Launch 2.x §Discovery: .well-known/smart-configuration). */
export async function discoverTokenUrl(fhirBase: string, fetchImpl: typeof fetch, timeoutMs: number): Promise<string> {
  const res = await fetchImpl(`${fhirBase.replace(/\/+$/, '')}/.well-known/smart-configuration`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new BackendServicesError(`${fhirBase}/.well-known/smart-configuration answered HTTP ${res.status}`);
  const body = (await res.json()) as { token_endpoint?: unknown };
  if (typeof body.token_endpoint !== 'string') throw new BackendServicesError('the SMART configuration names no token_endpoint');
  return body.token_endpoint;
}

/**
 * A function giving a valid access token, asking the authorization server only when the last one is about to
 * expire. The client assertion lives five minutes at most (§Authenticating to the Token endpoint: exp no more
 * than five minutes in the future) and carries a fresh jti each time.
 */
export function backendServicesTokens(
  client: BackendServicesClient,
  fhirBase: string,
  options: { fetch?: typeof fetch; timeoutMs: number; now?: () => Date },
): () => Promise<string> {
  const fetchImpl = options.fetch ?? fetch;
  const now = options.now ?? ((): Date => new Date());
  const alg = client.privateJwk.alg;
  if (!alg || !ALGORITHMS.has(alg)) throw new BackendServicesError(`the private key's alg must be RS384 or ES384, not ${alg ?? '(none)'}`);
  if (!client.privateJwk.kid) throw new BackendServicesError('the private key needs a kid (the server finds the public key by it)');
  let cached: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;

  const fetchToken = async (): Promise<string> => {
    const tokenUrl = client.tokenUrl ?? (await discoverTokenUrl(fhirBase, fetchImpl, options.timeoutMs));
    const key = await importJWK(client.privateJwk, alg);
    const issuedAt = Math.floor(now().getTime() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg, kid: client.privateJwk.kid!, typ: 'JWT' })
      .setIssuer(client.clientId)
      .setSubject(client.clientId)
      .setAudience(tokenUrl)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 300)
      .setJti(randomUUID())
      .sign(key);
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: client.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    const res = await fetchImpl(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await res.text();
    let json: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } = {};
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      // not JSON: said below
    }
    if (res.status !== 200 || typeof json.access_token !== 'string') {
      // RFC 6749 §5.2: the error code and description are the server's words about the request, never a secret.
      const why = typeof json.error === 'string' ? `${json.error}${typeof json.error_description === 'string' ? `: ${json.error_description.slice(0, 200)}` : ''}` : `HTTP ${res.status}`;
      throw new BackendServicesError(`the token endpoint refused the client: ${why}`);
    }
    const seconds = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 300;
    cached = { token: json.access_token, expiresAt: now().getTime() + seconds * 1000 - EXPIRY_MARGIN_MS };
    return json.access_token;
  };

  return async () => {
    if (cached && cached.expiresAt > now().getTime()) return cached.token;
    // One request at a time: a burst of downloads needing a token asks once.
    pending ??= fetchToken().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/** The default scopes: read access to each type the export asks, in SMART v1 syntax (widely accepted). */
export function defaultScope(types: readonly string[]): string {
  return types.map((t) => `system/${t}.read`).join(' ');
}
