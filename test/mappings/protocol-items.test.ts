import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CompiledRule } from '../../src/engine/compiled.js';
import { ROOT } from '../support/app.js';
import { realMappings } from '../support/evaluate.js';

const SEEDS = resolve(ROOT, '..', 'shared', 'seeds');

/** Whitespace, bullet marks and the source's markdown escapes ("\\>") do not count as text. */
function normalise(s: string): string {
  return s.replace(/\\([<>])/g, '$1').replace(/[•]/g, ' ').replace(/(^|\s)- /g, ' ').replace(/\s+/g, ' ').trim();
}

/** The protocol's item numbers, as each document prints them. */
const EXPECTED_ITEMS: Record<string, { inclusion: string[]; exclusion: string[] }> = {
  'nct06789107-blinatumomab': { inclusion: range(9), exclusion: range(22) },
  'zju-cd19-car-t-csle': { inclusion: range(7), exclusion: range(13) },
  'nct06934447-bcma-cd70-car-t': { inclusion: range(8), exclusion: range(11) },
  'nct07352332-bite-immune-profiling': { inclusion: range(6), exclusion: range(6) },
  // The belimumab document uses bullets; numbered here in the order printed (3 inclusion, 13 exclusion).
  'nct04893161-belimumab-response': { inclusion: range(3), exclusion: range(13) },
};

function range(n: number): string[] {
  return Array.from({ length: n }, (_, i) => String(i + 1));
}

function leaves(rule: CompiledRule): CompiledRule[] {
  return 'of' in rule ? rule.of.flatMap(leaves) : [rule];
}

describe('every protocol item is in the mapping', () => {
  const { trials } = realMappings();

  it('has the five trials', () => {
    expect(trials.map((t) => t.id).sort()).toEqual(Object.keys(EXPECTED_ITEMS).sort());
  });

  for (const trial of realMappings().trials) {
    describe(trial.id, () => {
      const seed = normalise(readFileSync(resolve(ROOT, '..', trial.protocolSource.replace(/^shared\//, 'shared/')), 'utf8'));

      it('lists each numbered inclusion and exclusion item once, in order', () => {
        const expected = EXPECTED_ITEMS[trial.id]!;
        expect(trial.criteria.filter((c) => c.type === 'inclusion').map((c) => c.item)).toEqual(expected.inclusion);
        expect(trial.criteria.filter((c) => c.type === 'exclusion').map((c) => c.item)).toEqual(expected.exclusion);
      });

      it('carries the protocol text of each item as printed', () => {
        for (const c of trial.criteria) {
          // A note the mapping carries over from elsewhere in the document is in "[* ...]".
          const printed = c.text.replace(/\s*\[\*[^\]]*\]\s*/g, ' ');
          for (const fragment of printed.split(/(?<=[.;:])\s+|\s\d\.\s/).map(normalise).filter((f) => f.length > 25)) {
            expect(seed, `${c.id}: "${fragment}"`).toContain(fragment.replace(/[.;:]$/, ''));
          }
        }
      });

      it('says how each item was read, and labels every part a clinician sees', () => {
        for (const c of trial.criteria) {
          expect(c.interpretation.length, c.id).toBeGreaterThan(10);
          for (const leaf of leaves(c.rule)) expect(leaf.label, `${c.id}/${leaf.id}`).not.toMatch(/^(all|any|atLeast|not|review|measurement)$/);
        }
      });
    });
  }

  it('labels an exclusion by the finding that excludes, as the protocol says it (issue 18 item 6)', () => {
    const bite = realMappings().trials.find((t) => t.id === 'nct07352332-bite-immune-profiling')!;
    // "Inability to obtain essential clinical data": the label said "obtainable", the opposite.
    expect(bite.criteria.find((c) => c.id === 'exc-4')?.rule.label).toMatch(/cannot be obtained/);
    for (const trial of realMappings().trials) {
      for (const c of trial.criteria.filter((x) => x.type === 'exclusion')) {
        for (const leaf of leaves(c.rule)) expect(leaf.label, `${trial.id} ${leaf.id}`).not.toMatch(/\b(obtainable|adequate quality|eligible|absent)\b/i);
      }
    }
  });

  it('reads the protocol documents from shared/seeds', () => {
    expect(readFileSync(resolve(SEEDS, 'NCT06789107-blinatumomab-refractory-cSLE.txt'), 'utf8')).toContain('Blinatumomab');
  });
});
