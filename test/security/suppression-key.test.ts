import { describe, expect, it } from 'vitest';
import { suppressionKey } from '../../src/security/suppression-key.js';

describe('suppression keys (issue #20 item 4)', () => {
  const subject = { issuer: 'https://ehr.example', patientId: 'p1', trialId: 't1' };
  it('are one key for one FHIR server however its base URL is spelled, so a trailing slash cannot bring a card back', () => {
    const key = suppressionKey('s'.repeat(32), { ...subject, fhirServer: 'https://fhir.example/r4' });
    for (const spelling of ['https://fhir.example/r4/', 'https://FHIR.example/r4', 'https://fhir.example:443/r4//']) {
      expect(suppressionKey('s'.repeat(32), { ...subject, fhirServer: spelling }), spelling).toBe(key);
    }
  });
  it('still tell two servers, and two paths on one server, apart', () => {
    const key = suppressionKey('s'.repeat(32), { ...subject, fhirServer: 'https://fhir.example/r4' });
    expect(suppressionKey('s'.repeat(32), { ...subject, fhirServer: 'https://fhir.example/r5' })).not.toBe(key);
    expect(suppressionKey('s'.repeat(32), { ...subject, fhirServer: 'http://fhir.example/r4' })).not.toBe(key);
    expect(suppressionKey('s'.repeat(32), { ...subject })).not.toBe(key);
  });
});
