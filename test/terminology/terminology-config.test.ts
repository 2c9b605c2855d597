import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('TERMINOLOGY_SERVER', () => {
  it('takes an https base URL, or http on this machine only, as every outgoing FHIR call does', () => {
    expect(loadConfig({ TERMINOLOGY_SERVER: 'https://tx.hospital.example.org/fhir/' }).terminologyServer).toBe('https://tx.hospital.example.org/fhir');
    expect(loadConfig({ TERMINOLOGY_SERVER: 'http://127.0.0.1:8080/fhir' }).terminologyServer).toBe('http://127.0.0.1:8080/fhir');
    expect(() => loadConfig({ TERMINOLOGY_SERVER: 'http://tx.hospital.example.org/fhir' })).toThrow(/TERMINOLOGY_SERVER: a FHIR server must be https/);
  });

  it('refuses a URL with credentials, a query or a fragment', () => {
    for (const url of ['https://user:secret@tx.example.org/fhir', 'https://tx.example.org/fhir?x=1', 'https://tx.example.org/fhir#a']) {
      expect(() => loadConfig({ TERMINOLOGY_SERVER: url })).toThrow(/TERMINOLOGY_SERVER/);
    }
  });

  it('is off unless set, with its per-hook limits defaulted', () => {
    const c = loadConfig({});
    expect(c.terminologyServer).toBeUndefined();
    expect([c.terminologyMaxLookups, c.terminologyBudgetMs, c.terminologyCacheSeconds]).toEqual([64, 1500, 86_400]);
  });
});
