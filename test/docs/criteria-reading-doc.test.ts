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

  it('gives every part with a window its anchor and where the window comes from (issue 18 item 3)', () => {
    const doc = renderCriteriaTable();
    expect(doc).toMatch(/\| I6 \| inc-6\.ocs \| .* \| stable ≥ P7D \| first dose \(ahead\) \| protocol: "at a stable dose for ≥7 days prior to initiation" \|/);
    expect(doc).toMatch(/\| E15 \| exc-15 \| .* \| P4W \| enrolment \(ahead\) \| protocol: "within 4 weeks prior to enrollment" \|/);
    expect(doc).toMatch(/\| I7 \| inc-7\.hb \| .* \| P30D \| screening \(today\) \| project default: /);
    // A row with a window and an empty "window from" cell would be a window of unknown origin.
    expect(doc).not.toMatch(/\| P\d+[DWMY] \| [^|]+ \| {2}\|/);
  });
});
