// SMART App Launch 2.x EHR launch (issue #11 item 4) with SMART's own client library, fhirclient: it reads
// iss and launch from this page's URL, discovers the authorization server at iss/.well-known/smart-configuration,
// and redirects to it. A public client (no secret; PKCE S256). No patient data here, only fhirclient's state.
// fhirclient's browser build is a UMD script that defines window.FHIR; the cast gives it its own types (the
// lint rule sees only Reflect.get's any, not the JSDoc cast).
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
const SMART = /** @type {typeof import('fhirclient/lib/entry/browser')} */ (Reflect.get(window, 'FHIR'));
SMART.oauth2
  .authorize({ clientId: 'trialmatch-cds', scope: 'launch openid fhirUser patient/*.read', redirectUri: 'index.html' })
  .catch((/** @type {unknown} */ err) => {
    const status = document.querySelector('[data-testid="launch-status"]');
    if (status) status.textContent = `The launch failed: ${err instanceof Error ? err.message : String(err)}`;
  });
