// SMART App Launch 2.x EHR launch (issue #11 item 4) with SMART's own client library, fhirclient: it reads
// iss and launch from this page's URL, discovers the authorization server at iss/.well-known/smart-configuration,
// and redirects to it. A public client (no secret; PKCE S256). No patient data here, only fhirclient's state.
/** @type {typeof import('fhirclient/lib/entry/browser')} */
const SMART = /** @type {any} */ (Reflect.get(window, 'FHIR'));
SMART.oauth2
  .authorize({ clientId: 'trialmatch-cds', scope: 'launch openid fhirUser patient/*.read', redirectUri: 'index.html' })
  .catch((/** @type {unknown} */ err) => {
    const status = document.querySelector('[data-testid="launch-status"]');
    if (status) status.textContent = `The launch failed: ${err instanceof Error ? err.message : String(err)}`;
  });
