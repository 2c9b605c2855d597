import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CRITERIA_DOC, renderCriteriaTable } from '../../scripts/criteria-table.js';

describe('docs/criteria-reading.md', () => {
  it('is the current rendering of the mappings (run `npx tsx scripts/criteria-table.ts` after changing a trial)', () => {
    expect(readFileSync(CRITERIA_DOC, 'utf8')).toBe(renderCriteriaTable());
  });

  it('has a row for every lab part saying which result decides it', () => {
    const doc = renderCriteriaTable();
    expect(doc).toMatch(/\| E10 \| exc-10\.hbsag \| HBsAg positive \| lab-positive \| hbsag \| ever \|/);
    expect(doc).toMatch(/\| I3 \| inc-3\.dsdna \| .* \| lab-positive \| anti-dsdna \| any \| P12M \|/);
    expect(doc).not.toMatch(/\| (measurement|lab-positive|titer) \| [^|]* \| {2}\|/);
  });
});
