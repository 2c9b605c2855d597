import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT } from '../support/app.js';

// Issue #19 item 3: each trial's registry status and its as-of date are taken from its protocol document
// (../shared/seeds/): the printed status and the words for the date must be in the document, as printed.
const SEEDS = resolve(ROOT, '..', 'shared');
const squash = (s: string): string => s.replace(/\s+/g, ' ');
const trials = loadMappings({ dir: resolve(ROOT, 'fhir-mappings') }).trials;

describe.each(trials.map((t) => [t.id, t] as const))('%s', (_id, trial) => {
  const document = squash(readFileSync(resolve(SEEDS, trial.protocolSource.replace(/^shared\//, '')), 'utf8'));

  it('prints its registry status as the trial file says', () => {
    expect(document).toContain(trial.registryStatus.asPrinted);
  });

  it('gives the as-of date in the words quoted, or the trial file says why there is none', () => {
    const r = trial.registryStatus;
    if (r.asOfQuote === undefined) {
      expect(r.asOfNote).toMatch(/gives no date/);
      return;
    }
    expect(document).toContain(r.asOfQuote);
    const quoted = new Date(`${r.asOfQuote} UTC`);
    expect(quoted.toISOString().slice(0, 10)).toBe(r.asOf);
  });
});
