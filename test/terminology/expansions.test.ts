import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ValueSet } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { MAPPINGS_DIR, expectedExpansions, readDescendantTables } from '../../scripts/terminology-expand.js';
import { SOURCE_EXTENSION, valueSetUrl } from '../../src/terminology/canonical.js';
import { EXPANDED_FROM_EXTENSION, expandValueSet, parseDescendantTable } from '../../src/terminology/expand.js';
import { toFhirValueSet } from '../../src/terminology/fhir-value-set.js';
import type { ValueSetInput } from '../../src/terminology/value-set-input.js';

/** Issue 17 item 1: the committed expansions (fhir-mappings/expansions/) are what the command builds now. */

function committed(id: string): ValueSet {
  return JSON.parse(readFileSync(join(MAPPINGS_DIR, 'expansions', `${id}.json`), 'utf8')) as ValueSet;
}

describe('the committed expansions', () => {
  it('are what `npm run terminology:expand` builds from the authoring files and the source tables (else run it)', () => {
    const expected = expectedExpansions(MAPPINGS_DIR, '2000-01-01T00:00:00.000Z');
    const files = readdirSync(join(MAPPINGS_DIR, 'expansions')).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual([...expected.keys()].map((id) => `${id}.json`).sort());
    const stale = [...expected].filter(([, e]) => readFileSync(e.file, 'utf8') !== e.text).map(([id]) => id);
    expect(stale, 'stale expansions: run npm run terminology:expand').toEqual([]);
  });

  it('are R4 ValueSets with the canonical url, a version, a publisher and a public source on every include and exclude', () => {
    for (const f of readdirSync(join(MAPPINGS_DIR, 'expansions'))) {
      const vs = committed(f.replace(/\.json$/, ''));
      expect(vs.resourceType).toBe('ValueSet');
      expect(vs.url).toBe(valueSetUrl(vs.id!));
      expect(vs.version).toMatch(/^[0-9a-f]{12}$/);
      expect(vs.publisher).toBeTruthy();
      for (const inc of [...vs.compose!.include, ...(vs.compose!.exclude ?? [])]) {
        const source = inc.extension?.find((e) => e.url === SOURCE_EXTENSION)?.valueString;
        expect(source, `${vs.id} ${inc.system}`).toBeTruthy();
      }
      expect(vs.expansion!.total).toBe(vs.expansion!.contains!.length);
    }
  });

  it('hold the descendants the issue names, each marked with the rule that brought it in', () => {
    const has = (id: string, code: string): string | undefined =>
      committed(id)
        .expansion!.contains!.find((c) => c.code === code)
        ?.extension?.find((e) => e.url === EXPANDED_FROM_EXTENSION)?.valueString;
    expect(has('malignancy', '91857003')).toMatch(/is-a (363346000|93143009)$/);
    expect(has('depression', '370143000')).toBe('http://snomed.info/sct is-a 35489007');
    expect(has('sle', '402865003')).toBe('http://snomed.info/sct is-a 55464009');
    // Listed codes are listed, not "brought in" (the loader takes listed codes from the authoring file).
    expect(committed('sle').expansion!.contains!.find((c) => c.code === '55464009')?.extension).toBeUndefined();
  });

  it('every source table names its public source and is read by a hierarchy rule', () => {
    const tables = readDescendantTables(MAPPINGS_DIR);
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) expect(t.source, t.file).toMatch(/https:\/\/(vsac\.nlm\.nih\.gov|github\.com)\//);
  });
});

describe('expanding a ValueSet', () => {
  const input: ValueSetInput = {
    id: 'demo',
    title: 'Demo',
    description: 'A list with a hierarchy rule, a prefix and exclusions.',
    hierarchy: [
      { system: 'http://snomed.info/sct', code: '1', op: 'is-a', source: 'https://example.org/1' },
      { system: 'http://snomed.info/sct', code: '3', op: 'is-a', source: 'https://example.org/3', exclude: true },
    ],
    codes: [
      { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'F33', display: 'F33', source: 'https://example.org/f33', prefix: true },
      { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'F33.4', display: 'F33.4', source: 'https://example.org/f334', prefix: true, exclude: true },
      { system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'F33.41', display: 'F33.41', source: 'https://example.org/f3341' },
    ],
  };
  const table = parseDescendantTable(
    't.tsv',
    '# system: http://snomed.info/sct\n# root: 1\tRoot\n# source: https://example.org/t\ncode\tdisplay\n2\tChild\n3\tExcluded child\n',
  );

  it('includes the root and its descendants, drops excluded concepts and codes under an excluded prefix, and names the prefix it cannot enumerate', () => {
    const vs = expandValueSet(toFhirValueSet(input), [table], '2000-01-01T00:00:00.000Z');
    expect(vs.expansion!.contains!.map((c) => c.code)).toEqual(['1', '2']);
    expect(vs.expansion!.parameter).toContainEqual({ name: 'not-enumerated', valueString: 'http://hl7.org/fhir/sid/icd-10-cm is-a F33' });
  });

  it('a table that lists its root as its own descendant is refused', () => {
    expect(() => parseDescendantTable('bad.tsv', '# system: s\n# root: 1\tRoot\n# source: u\ncode\tdisplay\n1\tRoot\n')).toThrow(/own descendant/);
  });
});
