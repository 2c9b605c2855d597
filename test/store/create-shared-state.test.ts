import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { suppressionKey } from '../../src/security/suppression-key.js';
import { createSharedState } from '../../src/store/create-shared-state.js';

const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-create-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { warn: () => undefined, info: () => undefined };

describe('choosing the shared state', () => {
  it('opens the embedded journal without DATABASE_URL, with a generated secret kept across restarts', async () => {
    const config = loadConfig({ FEEDBACK_FILE: resolve(dir, 'feedback.jsonl') });
    const first = await createSharedState(config, quiet);
    expect(first.state.kind).toBe('embedded');
    await first.state.close();
    const second = await createSharedState(config, quiet);
    expect(second.suppressionSecret).toBe(first.suppressionSecret);
    await second.state.close();
  });

  it('refuses DATABASE_URL without SUPPRESSION_SECRET, before connecting', async () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    await expect(createSharedState(config, quiet)).rejects.toThrow(/SUPPRESSION_SECRET is required with DATABASE_URL/);
  });
});

describe('the suppression key', () => {
  it('is an HMAC of issuer, FHIR server, patient and trial that no two subjects share', () => {
    const base = { issuer: 'https://ehr.example', fhirServer: 'https://ehr.example/fhir', patientId: 'p1', trialId: 't1' };
    const key = suppressionKey('secret-one-0123456789', base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain('p1');
    expect(suppressionKey('secret-two-0123456789', base)).not.toBe(key);
    // The separator keeps "p1" + "t1" apart from "p" + "1t1".
    expect(suppressionKey('secret-one-0123456789', { ...base, patientId: 'p', trialId: '1t1' })).not.toBe(key);
    expect(suppressionKey('secret-one-0123456789', { ...base, fhirServer: undefined })).not.toBe(key);
  });
});
