import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/app.js';
import { matchName } from '../../src/terminology/value-set.js';
import { realMappings } from '../support/evaluate.js';

const MEDICATION_LISTS = [
  'glucocorticoids', 'antimalarials', 'conventional-immunosuppressants', 'sle-biologics', 'biologic-agents', 'rituximab',
  'cyclophosphamide', 'anti-cd19-cd20-therapies', 'jak-btk-tyk2-inhibitors', 'car-t-therapies', 'cd3-cd19-bispecific', 'vasopressors',
];

describe('medication code lists: one ingredient, one key', () => {
  const { valueSets } = realMappings();

  it.each(MEDICATION_LISTS)('%s: every product maps to an ingredient the list knows, every name to an ingredient', (id) => {
    const vs = valueSets.get(id)!;
    for (const e of vs.exact.values()) {
      if (e.ingredient && e.ingredient !== e.code) expect(vs.ingredientNames.has(e.ingredient), `${id} ${e.code} -> ${e.ingredient}`).toBe(true);
    }
    for (const n of vs.names) expect(vs.nameIngredients.get(n), `${id} name ${n}`).toBeDefined();
  });

  it('brand names, abbreviations and Chinese names resolve to the RxNorm ingredient of their drug', () => {
    const key = (id: string, text: string) => {
      const vs = valueSets.get(id)!;
      const name = matchName(vs, text.toLowerCase());
      return name ? vs.nameIngredients.get(name) : undefined;
    };
    expect(key('conventional-immunosuppressants', 'CellCept 500 mg')).toBe('68149');
    expect(key('conventional-immunosuppressants', 'mycophenolate mofetil 500 MG Oral Tablet')).toBe('68149');
    expect(key('conventional-immunosuppressants', '吗替麦考酚酯分散片')).toBe('68149');
    expect(key('sle-biologics', 'Benlysta 400 mg IV')).toBe('1092437');
    expect(key('sle-biologics', 'Saphnelo 300 mg')).toBe('anifrolumab');
    expect(key('sle-biologics', '泰它西普')).toBe('telitacicept');
    expect(key('antimalarials', 'Plaquenil 200 mg')).toBe('5521');
    expect(key('cd3-cd19-bispecific', '注射用贝林妥欧单抗')).toBe('1597258');
    expect(key('rituximab', 'Rituxan Hycela')).toBe('121191');
    expect(key('glucocorticoids', 'Medrol 4 mg')).toBe('6902');
  });

  it.each(MEDICATION_LISTS)('%s: every code carries its source, every synonym names an ingredient of the list', (id) => {
    const raw = JSON.parse(readFileSync(resolve(ROOT, 'fhir-mappings', 'valuesets', `${id}.json`), 'utf8')) as {
      codes: { code: string; source: string; tty?: string; ingredient?: string }[];
      names?: string[];
      synonyms?: Record<string, string>;
    };
    for (const c of raw.codes) expect(c.source.length, `${id} ${c.code}`).toBeGreaterThan(10);
    const ingredients = new Set(raw.codes.filter((c) => c.tty === 'IN').map((c) => c.code));
    const names = new Set((raw.names ?? []).map((n) => n.toLowerCase()));
    for (const [name, target] of Object.entries(raw.synonyms ?? {})) {
      expect(ingredients.has(target) || names.has(target.toLowerCase()) || raw.codes.some((c) => c.ingredient === target), `${id} ${name} -> ${target}`).toBe(true);
    }
  });
});
