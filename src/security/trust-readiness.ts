import { importJWK } from 'jose';
import type { LoadedTrust } from './trust-config.js';

/**
 * Readiness (issue #12 item 6): every trusted issuer's key set can be loaded now: inline keys import, a
 * jwksUrl answers with a JWK Set (5 s timeout). Throws naming the issuer, never a token or patient data.
 */
export async function trustKeysLoadable(trust: LoadedTrust): Promise<void> {
  for (const issuer of trust.issuers) {
    try {
      if (issuer.jwks) {
        for (const key of issuer.jwks.keys) await importJWK(key as Parameters<typeof importJWK>[0], (key.alg as string | undefined) ?? (key.kty === 'EC' ? 'ES384' : 'RS256'));
      } else if (issuer.jwksUrl) {
        const res = await fetch(issuer.jwksUrl, { signal: AbortSignal.timeout(5000), redirect: 'error' });
        const body = (await res.json()) as { keys?: unknown };
        if (!res.ok || !Array.isArray(body.keys)) throw new Error(`HTTP ${res.status}`);
      }
    } catch {
      throw new Error(`the key set of issuer ${issuer.issuer} cannot be loaded`);
    }
  }
}
