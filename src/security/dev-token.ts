import { createPrivateKey, randomUUID, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT, type JWK } from 'jose';
import type { TrustedIssuer } from './trust-config.js';

/** Lifetime of a development token: short, as CDS Hooks expects one token per call. */
export const DEV_TOKEN_SECONDS = 300;

export interface DevTokenSigner {
  issuer: string;
  sign(aud: string, nowMs?: number): Promise<string>;
}

/**
 * Signs CDS Hooks client JWTs (ES384, with kid, iss, sub, aud, exp, iat, jti) with the development issuer's
 * committed private key. DEVELOPMENT ONLY: that key is public, so only a trust file that enables
 * `devTokenEndpoint` uses it.
 */
export function createDevTokenSigner(issuer: TrustedIssuer): DevTokenSigner {
  if (!issuer.privateJwkPath) throw new Error(`issuer ${issuer.issuer} has no privateJwkFile`);
  const { '//': _comment, ...jwk } = JSON.parse(readFileSync(issuer.privateJwkPath, 'utf8')) as JWK & { '//'?: string };
  if (!jwk.kid || !jwk.d) throw new Error(`${issuer.privateJwkPath}: a private JWK with a kid is needed`);
  const key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
  const kid = jwk.kid;
  return {
    issuer: issuer.issuer,
    sign: (aud, nowMs = Date.now()) => {
      const iat = Math.floor(nowMs / 1000);
      return new SignJWT({})
        .setProtectedHeader({ alg: 'ES384', kid, typ: 'JWT' })
        .setIssuer(issuer.issuer)
        .setSubject('trialmatch-development-client')
        .setAudience(aud)
        .setIssuedAt(iat)
        .setExpirationTime(iat + DEV_TOKEN_SECONDS)
        .setJti(randomUUID())
        .sign(key);
    },
  };
}

export function devTokenIssuer(issuers: readonly TrustedIssuer[]): TrustedIssuer | undefined {
  return issuers.find((i) => i.devTokenEndpoint);
}
