// Prints a development client JWT (CDS Hooks 2.0 §Trusting CDS Clients) for one URL of the service, signed
// with the development issuer's committed key. DEVELOPMENT ONLY: the service trusts that key only while its
// trust file says so, which it does only when started with DEV_TRUST=1 (as `npm start` does). The script reads
// TRUST_CONFIG, else config/trust.example.json.
//
//   npx tsx scripts/dev-token.ts http://localhost:3000/cds-services
//   curl -s localhost:3000/cds-services -H "authorization: Bearer $(npx tsx scripts/dev-token.ts http://localhost:3000/cds-services)"
//
// A token is good for one call (its jti is remembered) and for five minutes.
import { DEV_TRUST_FILE, loadConfig } from '../src/config.js';
import { createDevTokenSigner, devTokenIssuer } from '../src/security/dev-token.js';
import { loadTrustConfig } from '../src/security/trust-config.js';

const aud = process.argv[2];
if (!aud || !/^https?:\/\//.test(aud)) {
  process.stderr.write('usage: tsx scripts/dev-token.ts <absolute URL to call>, e.g. http://localhost:3000/cds-services/trialmatch-sle\n');
  process.exit(2);
}
const trustFile = loadConfig().trustFile ?? DEV_TRUST_FILE;
const issuer = devTokenIssuer(loadTrustConfig(trustFile).issuers);
if (!issuer) {
  process.stderr.write(`${trustFile} has no issuer with devTokenEndpoint: true; there is no development key to sign with\n`);
  process.exit(1);
}
process.stdout.write(`${await createDevTokenSigner(issuer).sign(aud)}\n`);
