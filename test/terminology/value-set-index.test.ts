import { describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { listsOfKey } from '../../src/terminology/value-set-index.js';
import { matchCoding } from '../../src/terminology/value-set.js';
import { ROOT } from '../support/app.js';
import { join } from 'node:path';

/**
 * Issue 17 item 5: the inverted index (one lookup per record code) gives the same answer as matching each
 * list on its own (matchCoding), for every code the lists hold, their children, WHO national-edition
 * extensions and the codes just beside them.
 */
describe('the value-set index', () => {
  const mappings = loadMappings({ dir: join(ROOT, 'fhir-mappings') });
  const lists = [...mappings.valueSets.values()];
  const index = lists[0]!.index!;
  const keys = new Set<string>();
  for (const vs of lists) {
    for (const e of vs.exact.values()) keys.add(`${e.system}|${e.code}`);
    for (const p of [...vs.prefixes.map((x) => ({ system: x.system, code: x.prefix })), ...vs.excluded]) {
      for (const tail of ['', '0', '1', '9', '.0', '.1', '00', '01', '.100', '.900', 'x001']) keys.add(`${p.system}|${p.code}${tail}`);
    }
  }
  for (const key of [...keys]) {
    const [system, code] = key.split(/\|(.*)/s) as [string, string];
    if (system === 'http://hl7.org/fhir/sid/icd-10') {
      for (const tail of ['00', '01', '.x00x002']) keys.add(`${system}|${code}${tail}`);
      keys.add(`http://fhir.de/CodeSystem/bfarm/icd-10-gm|${code}`);
    }
  }

  it(`agrees with matchCoding on every list for ${keys.size} codes, asked once and again (its kept answers)`, () => {
    const disagree: string[] = [];
    for (const key of [...keys, ...keys]) {
      const bar = key.indexOf('|');
      const coding = { system: key.slice(0, bar), code: key.slice(bar + 1) };
      const ids = listsOfKey(index, key);
      for (const vs of lists) if (ids.has(vs.id) !== (matchCoding(vs, coding) !== undefined)) disagree.push(`${key} ${vs.id}`);
    }
    expect(disagree).toEqual([]);
    expect(keys.size).toBeGreaterThan(5000);
    expect(index.placed.size).toBeGreaterThan(0);
  });
});
