// The coordinator's worklist (issue #19 item 2), a SMART App Launch 2.x standalone launch: no patient in
// context, a user's token with user-level read of patients (the service checks it by introspection:
// src/security/smart-token.ts verifyUser). A public client (no secret; PKCE S256).
// A block: this classic script shares the global scope with the SMART app's launch.js in type checking.
{
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
  const SMART = /** @type {typeof import('fhirclient/lib/entry/browser')} */ (Reflect.get(window, 'FHIR'));
  SMART.oauth2
    .authorize({ clientId: 'trialmatch-cds', scope: 'openid fhirUser user/Patient.rs user/ResearchStudy.u', redirectUri: 'index.html' })
    .catch((/** @type {unknown} */ err) => {
      const status = document.querySelector('[data-testid="launch-status"]');
      if (status) status.textContent = `The launch failed: ${err instanceof Error ? err.message : String(err)}`;
    });
}
