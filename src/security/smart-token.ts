import { createHash } from 'node:crypto';
import { forbidden, serviceUnavailable, unauthorized, type OperationOutcomeError } from '../fhir/outcomes.js';
import type { SmartServer } from './trust-config.js';

/**
 * The SMART app (issue #11 item 4) has no client key of its own: the service accepts its calls on the
 * strength of the user's SMART access token, checked by RFC 7662 token introspection at the authorization
 * server of a SMART server listed in the trust file. Never a server the caller names on its own: the
 * `fhirServer` it sends only picks one of the listed entries.
 */
export interface SmartTokenVerifierOptions {
  servers: readonly SmartServer[];
  /** Positive introspection answers are reused this long at most (and never past the token's exp). */
  cacheSeconds: number;
  /** Entries kept in the cache; the oldest go first. */
  cacheSize?: number;
  timeoutMs: number;
  clock: () => Date;
  fetch?: typeof fetch;
  env?: NodeJS.ProcessEnv;
}

/** What the service relies on from an active token. */
export interface SmartTokenInfo {
  /** The patient in context (SMART App Launch 2.x §Launch context: `patient`). */
  patient: string;
  scope: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  clientId?: string;
  fhirUser?: string;
  /** The listed SMART server it was checked at. */
  fhirBaseUrl: string;
}

/** What the service relies on from an active user token with no patient in context (the worklist's launch). */
export interface SmartUserInfo {
  /** The user (SMART App Launch 2.x `fhirUser`, e.g. Practitioner/123): required, it is who the audit names. */
  fhirUser: string;
  scope: string;
  exp: number;
  clientId?: string;
  fhirBaseUrl: string;
}

/** A refusal with its category, for the log (never the token or its claims). */
export class SmartTokenError extends Error {
  constructor(
    readonly outcome: OperationOutcomeError,
    readonly failure: 'missing' | 'unknown-server' | 'inactive' | 'expired' | 'no-patient' | 'no-user' | 'other-client' | 'no-read-scope' | 'introspection-failed',
  ) {
    super(failure);
  }
}

const normalise = (url: string): string => url.replace(/\/+$/, '');

/** Reads the bearer token of an Authorization header (RFC 6750 §2.1), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header ?? '');
  return m?.[1];
}

/** The largest introspection answer read (issue #20 item 6: a 200 MiB answer took the process to 952 MiB RSS). */
export const INTROSPECTION_MAX_BYTES = 64 * 1024;

/** How long a refused token is answered from memory, without asking the authorization server again. */
const REFUSAL_CACHE_MS = 30_000;

/**
 * Whether the granted scopes let the app read the patient's clinical record: SMART App Launch 2.x scopes
 * `patient/<type or *>.<cruds with r>` (v2) or `.read` / `.*` (v1), optionally with a `?` query. `openid
 * fhirUser` alone names a user, and grants no read.
 */
function grantsPatientRead(scope: string): boolean {
  return scope.split(/\s+/).some((s) => {
    const m = /^patient\/(?:\*|[A-Z][A-Za-z]+)\.([a-z*]+)(?:\?\S*)?$/.exec(s);
    // v1 `read` and `*`; v2 an ordered subset of c r u d s that holds r (`rs`, `cruds`).
    return m !== null && (m[1] === '*' || /^c?r/.test(m[1]!));
  });
}

/**
 * Whether the scopes let a user read patients' records across the server (SMART App Launch 2.x `user/`
 * scopes, v1 `.read` / `.*` or v2 with r): the coordinator's worklist names many patients.
 */
function grantsUserRead(scope: string): boolean {
  return scope.split(/\s+/).some((s) => {
    const m = /^user\/(?:\*|Patient)\.([a-z*]+)(?:\?\S*)?$/.exec(s);
    return m !== null && (m[1] === '*' || m[1] === 'read' || /^c?r/.test(m[1]!));
  });
}

/**
 * Whether the scopes let a user change the site's trials (the site status the service publishes as
 * ResearchStudy.status): SMART App Launch 2.x `user/ResearchStudy.<cruds with u>` or `user/*.<...u...>`, v1
 * `.write` / `.*`. The authorization server decides who gets it; a read scope does not pause a trial.
 */
export function grantsStudyUpdate(scope: string): boolean {
  return scope.split(/\s+/).some((s) => {
    const m = /^user\/(?:\*|ResearchStudy)\.([a-z*]+)$/.exec(s);
    return m !== null && (m[1] === '*' || m[1] === 'write' || /^c?r?u/.test(m[1]!));
  });
}

type Checked = SmartTokenInfo | SmartUserInfo;

export class SmartTokenVerifier {
  private readonly servers: Map<string, SmartServer>;
  private readonly cache = new Map<string, { info: Checked; until: number } | { refusal: SmartTokenError; until: number }>();
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: SmartTokenVerifierOptions) {
    this.servers = new Map(options.servers.map((s) => [normalise(s.fhirBaseUrl), s]));
    this.doFetch = options.fetch ?? fetch;
  }

  /** The FHIR base URLs whose tokens are accepted. */
  get fhirBaseUrls(): string[] {
    return [...this.servers.keys()];
  }

  /**
   * Checks the token at the listed server for `fhirServer`: 401 without one, for an unlisted server, or
   * when the answer is not active, expired or names no patient; 503 when the check could not be made.
   */
  async verify(fhirServer: string, authorization: string | undefined): Promise<SmartTokenInfo> {
    return (await this.check(fhirServer, authorization, 'patient')) as SmartTokenInfo;
  }

  /**
   * Checks a user's token with no patient in context (issue #19 item 2: the coordinator's worklist, launched
   * standalone): active, unexpired, this app's, naming the user (`fhirUser`) and granting `user/` read of
   * Patient (or `*`). The SMART server decides who may hold such a token.
   */
  async verifyUser(fhirServer: string, authorization: string | undefined): Promise<SmartUserInfo> {
    return (await this.check(fhirServer, authorization, 'user')) as SmartUserInfo;
  }

  private async check(fhirServer: string, authorization: string | undefined, mode: 'patient' | 'user'): Promise<Checked> {
    const token = bearerToken(authorization);
    if (!token) throw new SmartTokenError(unauthorized('a SMART access token is required (Authorization: Bearer ...)', 'login'), 'missing');
    const server = this.servers.get(normalise(fhirServer));
    if (!server) throw new SmartTokenError(unauthorized('tokens from this FHIR server are not accepted: it is not a trusted SMART server'), 'unknown-server');
    const now = this.options.clock().getTime();
    // Keyed by a hash of server and token: the cache never holds a usable token.
    const key = createHash('sha256').update(mode).update('\n').update(server.introspectionUrl).update('\n').update(token).digest('base64url');
    const hit = this.cache.get(key);
    if (hit && hit.until > now) {
      if ('refusal' in hit) throw hit.refusal;
      return hit.info;
    }
    if (hit) this.cache.delete(key);
    const answer = await this.introspect(server, token);
    let info: Checked;
    try {
      info = mode === 'patient' ? this.accept(answer, server, now) : this.acceptUser(answer, server, now);
    } catch (err) {
      // A refused token asked again within the window is refused from memory: a client replaying bogus
      // tokens costs the authorization server one call per token, not one per request (issue #20 item 6).
      if (err instanceof SmartTokenError) this.remember(key, { refusal: err, until: now + REFUSAL_CACHE_MS });
      throw err;
    }
    this.remember(key, { info, until: Math.min(now + this.options.cacheSeconds * 1000, info.exp * 1000) });
    return info;
  }

  private async introspect(server: SmartServer, token: string): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const auth = server.introspectionAuth;
    const env = this.options.env ?? process.env;
    if (auth?.type === 'token-itself') headers.authorization = `Bearer ${token}`;
    else if (auth?.type === 'bearer') headers.authorization = `Bearer ${env[auth.tokenEnv] ?? ''}`;
    else if (auth?.type === 'basic') {
      // RFC 6749 §2.3.1: client id and secret form-urlencoded before base64.
      const pair = `${encodeURIComponent(auth.clientId)}:${encodeURIComponent(env[auth.secretEnv] ?? '')}`;
      headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    }
    const failed = (): SmartTokenError => new SmartTokenError(serviceUnavailable('the SMART authorization server could not check the token; try again'), 'introspection-failed');
    let response: Response;
    try {
      response = await this.doFetch(server.introspectionUrl, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch {
      throw failed();
    }
    if (!response.ok) throw failed();
    try {
      const body: unknown = JSON.parse(await boundedText(response, INTROSPECTION_MAX_BYTES));
      if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
    } catch {
      // fall through
    }
    throw failed();
  }

  /** RFC 7662 §2.2: only `active: true` means anything; exp and a patient in context are required here. */
  private accept(answer: Record<string, unknown>, server: SmartServer, now: number): SmartTokenInfo {
    const patient = answer.patient;
    const { exp, clientId } = this.acceptCommon(answer, server, now, () => {
      if (typeof patient !== 'string' || patient === '') {
        throw new SmartTokenError(unauthorized('the SMART access token has no patient in context (launch with a patient)'), 'no-patient');
      }
    });
    const scope = typeof answer.scope === 'string' ? answer.scope : '';
    if (!grantsPatientRead(scope)) throw new SmartTokenError(forbidden('the SMART access token grants no read of the patient\'s record (patient/*.read or patient/<type>.rs)'), 'no-read-scope');
    const info: SmartTokenInfo = { patient: patient as string, exp, scope, fhirBaseUrl: normalise(server.fhirBaseUrl) };
    if (clientId) info.clientId = clientId;
    if (typeof answer.fhirUser === 'string') info.fhirUser = answer.fhirUser;
    return info;
  }

  /** Active, unexpired, (then `before`,) and issued to this app: what every token must be. */
  private acceptCommon(answer: Record<string, unknown>, server: SmartServer, now: number, before?: () => void): { exp: number; clientId?: string } {
    if (answer.active !== true) throw new SmartTokenError(unauthorized('the SMART access token is not active', 'expired'), 'inactive');
    const exp = answer.exp;
    if (typeof exp !== 'number' || exp * 1000 <= now) throw new SmartTokenError(unauthorized('the SMART access token has expired', 'expired'), 'expired');
    before?.();
    // Issue #20 item 6: the token must be this app's (RFC 7662 §2.2 client_id; else an `aud` naming it), and its
    // scopes must let the app read the patient's record.
    const audiences = typeof answer.aud === 'string' ? [answer.aud] : Array.isArray(answer.aud) ? answer.aud.filter((a): a is string => typeof a === 'string') : [];
    const client = typeof answer.client_id === 'string' ? [answer.client_id] : audiences;
    if (!client.some((c) => server.clientIds.includes(c))) {
      throw new SmartTokenError(unauthorized('the SMART access token was issued to another client than this app'), 'other-client');
    }
    return { exp, ...(typeof answer.client_id === 'string' ? { clientId: answer.client_id } : {}) };
  }

  private acceptUser(answer: Record<string, unknown>, server: SmartServer, now: number): SmartUserInfo {
    const { exp, clientId } = this.acceptCommon(answer, server, now);
    const fhirUser = answer.fhirUser;
    if (typeof fhirUser !== 'string' || fhirUser === '') throw new SmartTokenError(unauthorized('the SMART access token names no user (fhirUser): launch with openid fhirUser'), 'no-user');
    const scope = typeof answer.scope === 'string' ? answer.scope : '';
    if (!grantsUserRead(scope)) throw new SmartTokenError(forbidden('the SMART access token grants no read of patients (user/Patient.rs or user/*.read)'), 'no-read-scope');
    return { fhirUser, scope, exp, ...(clientId ? { clientId } : {}), fhirBaseUrl: normalise(server.fhirBaseUrl) };
  }

  private remember(key: string, entry: { info: Checked; until: number } | { refusal: SmartTokenError; until: number }): void {
    const max = this.options.cacheSize ?? 10_000;
    while (this.cache.size >= max) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, entry);
  }
}

/** The response body as text, refused past `max` bytes without reading the rest. */
async function boundedText(response: Response, max: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > max) {
    await response.body?.cancel();
    throw new Error('introspection answer too large');
  }
  const reader = (response.body as ReadableStream<Uint8Array> | null)?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new Error('introspection answer too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** 403 unless the Bundle's Patient is the token's patient: the token opens one patient's record only. */
export function assertSamePatient(info: SmartTokenInfo, bundlePatientId: string | undefined): void {
  if (bundlePatientId !== info.patient) throw forbidden('the Bundle is not the record of the patient in the SMART launch context', ['bundle.entry']);
}
