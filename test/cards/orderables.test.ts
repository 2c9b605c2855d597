import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT } from '../support/app.js';

const MAPPINGS = resolve(ROOT, 'fhir-mappings');
const FILE = 'orderables.json';

describe('orderable screening tests, kept as data beside the code lists (issue #11 item 2)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A copy of fhir-mappings/ with orderables.json changed by `edit`. */
  function withOrderables(edit: (data: any) => void): string {
    const dir = mkdtempSync(join(tmpdir(), 'trialmatch-orderables-'));
    dirs.push(dir);
    cpSync(MAPPINGS, dir, { recursive: true });
    const data = JSON.parse(readFileSync(join(dir, FILE), 'utf8'));
    edit(data);
    writeFileSync(join(dir, FILE), JSON.stringify(data));
    return dir;
  }

  it('compiles the real file: every open lab or imaging part of every trial finds its test', () => {
    const { orderables, trials } = loadMappings({ dir: MAPPINGS });
    expect(orderables.tests.length).toBeGreaterThan(5);
    for (const t of orderables.tests) {
      if (t.order) expect(t.order.source.length, t.id).toBeGreaterThan(20);
      if (t.order) expect(['laboratory', 'imaging']).toContain(t.category);
    }
    const blina = orderables.parts.get('nct06789107-blinatumomab')!;
    expect(trials.find((t) => t.id === 'nct06789107-blinatumomab')).toBeDefined();
    const byPart = [...blina.values()].flatMap((p) => p.tests.map((t) => t.id));
    expect(byPart).toEqual(expect.arrayContaining(['cbc-differential', 'hepatic-panel', 'echocardiography', 'cd19-count', 'igg', 'sledai-2k']));
  });

  it('records the echocardiogram as SNOMED CT 40701008 and the panels as LOINC orders', () => {
    const { orderables } = loadMappings({ dir: MAPPINGS });
    const code = (id: string) => orderables.tests.find((t) => t.id === id)?.order;
    expect(code('echocardiography')).toMatchObject({ system: 'http://snomed.info/sct', code: '40701008', display: 'Echocardiography (procedure)' });
    expect(code('cbc-differential')).toMatchObject({ system: 'http://loinc.org', code: '57021-8' });
    expect(code('hepatic-panel')).toMatchObject({ system: 'http://loinc.org', code: '24325-3' });
    expect(code('sledai-2k')).toBeUndefined();
  });

  const broken: [string, (d: any) => void, RegExp][] = [
    ['an unknown key (strict)', (d) => (d.tests[0].orderCode = 'x'), /Unrecognized key/],
    ['an order without its source', (d) => delete d.tests[0].order.source, /order\.source/],
    ['a code system that is not LOINC or SNOMED CT', (d) => (d.tests[0].order.system = 'http://www.ama-assn.org/go/cpt'), /order\.system/],
    ['an order on an assessment', (d) => (d.tests.find((t: any) => t.id === 'sledai-2k').order = d.tests[0].order), /only laboratory and imaging/],
    ['an unknown code list', (d) => d.tests[0].valueSets.push('no-such-list'), /unknown value set "no-such-list"/],
    ['a code list named by two tests', (d) => d.tests[1].valueSets.push(d.tests[0].valueSets[0]), /is settled by two tests/],
  ];
  for (const [name, edit, message] of broken) {
    it(`refuses to start on ${name}, naming the file`, () => {
      const dir = withOrderables(edit);
      expect(() => loadMappings({ dir })).toThrow(message);
      expect(() => loadMappings({ dir })).toThrow(FILE);
    });
  }
});
