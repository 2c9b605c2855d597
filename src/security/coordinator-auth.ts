import { decodeJwt } from 'jose';
import { forbidden, unauthorized } from '../fhir/outcomes.js';
import type { ReplayStore } from '../store/shared-state.js';
import { ClientAuthenticator } from './client-authenticator.js';
import { FhirServerAllowlist } from './fhir-server-allowlist.js';
import { bearerToken, grantsStudyUpdate, SmartTokenError, type SmartTokenVerifier } from './smart-token.js';
import type { LoadedTrust } from './trust-config.js';

/** A study coordinator, as far as the service could tell, and the FHIR servers whose patients they may see. */
export interface CoordinatorIdentity {
  /** The trust file's issuer, or the SMART server's FHIR base URL that vouched for the user. */
  issuer: string;
  /** The token's `sub`, or the SMART user (`fhirUser`). */
  subject: string;
  fhirServers: FhirServerAllowlist;
  via: 'trust-file' | 'smart';
  /**
   * May change a trial's site status (issue #19 item 3), which decides what every clinician of the site is
   * shown: a trust-file coordinator, or a SMART user whose token grants `user/ResearchStudy.u` (grantsStudyUpdate).
   * Reading the worklist and setting patient states need less.
   */
  mayChangeSiteStatus: boolean;
}

export interface CoordinatorAuthOptions {
  trust: LoadedTrust;
  publicBaseUrls: readonly string[];
  leewaySeconds: number;
  maxLifetimeSeconds: number;
  replay: () => ReplayStore;
  smart: SmartTokenVerifier;
}

/**
 * Who may read a worklist and set patient states (issue #19 item 2), two ways:
 * - a client JWT (CDS Hooks 2.0 §Trusting CDS Clients: signature, `aud` the URL called, `jti` once) from a
 *   trust-file issuer with the `coordinator` role, for the patients of that issuer's fhirServers;
 * - a SMART user's access token (the worklist page launched standalone), checked by RFC 7662 introspection
 *   at a trusted SMART server (src/security/smart-token.ts verifyUser), for that server's patients.
 * A JWT whose `iss` is a trust-file issuer is judged as the first, never as a SMART token.
 */
export class CoordinatorAuthenticator {
  private jwt: ClientAuthenticator | undefined;
  private readonly coordinators: Set<string>;

  constructor(private readonly options: CoordinatorAuthOptions) {
    this.coordinators = new Set(options.trust.issuers.filter((i) => i.roles.includes('coordinator')).map((i) => i.issuer));
  }

  async authenticate(authorization: string | undefined, requestUrl: string, iss: string | undefined): Promise<CoordinatorIdentity> {
    const token = bearerToken(authorization);
    if (!token) throw new SmartTokenError(unauthorized('a coordinator\'s token is required (Authorization: Bearer ...)', 'login'), 'missing');
    const issuer = unverifiedIssuer(token);
    if (issuer !== undefined && this.options.trust.issuers.some((i) => i.issuer === issuer)) {
      // Verified before anything is said about the role: an unverified token learns nothing.
      this.jwt ??= new ClientAuthenticator({ ...this.options, replay: this.options.replay() });
      const client = await this.jwt.authenticate(authorization, requestUrl);
      if (!this.coordinators.has(issuer)) throw forbidden('this issuer has no coordinator role in the trust file');
      return { issuer, subject: client.subject ?? 'unknown', fhirServers: client.fhirServers, via: 'trust-file', mayChangeSiteStatus: true };
    }
    const servers = this.options.smart.fhirBaseUrls;
    const server = iss ?? (servers.length === 1 ? servers[0]! : '');
    const user = await this.options.smart.verifyUser(server, authorization);
    return { issuer: user.fhirBaseUrl, subject: user.fhirUser, fhirServers: new FhirServerAllowlist([user.fhirBaseUrl]), via: 'smart', mayChangeSiteStatus: grantsStudyUpdate(user.scope) };
  }
}

function unverifiedIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    // Not a JWT: an opaque SMART access token.
    return undefined;
  }
}
