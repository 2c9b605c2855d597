import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MappingError, loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT } from '../support/app.js';
import { realMappings } from '../support/evaluate.js';

const MAPPINGS = resolve(ROOT, 'fhir-mappings');
const BLINA = 'nct06789107-blinatumomab.json';

function scratchWith(file: string, edit: (trial: any) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'trialmatch-windows-'));
  cpSync(MAPPINGS, dir, { recursive: true });
  const path = join(dir, 'trials', file);
  const trial = JSON.parse(readFileSync(path, 'utf8'));
  edit(trial);
  writeFileSync(path, JSON.stringify(trial));
  return dir;
}

const crit = (t: any, id: string): any => t.criteria.find((c: any) => c.id === id);

describe('every criterion states its anchor and where each window comes from (issue 18 item 3)', () => {
  it('every window of the five trials is quoted from the protocol or marked a project default', () => {
    for (const trial of realMappings().trials) {
      for (const c of trial.criteria) {
        expect(['screening', 'consent', 'enrolment', 'first-dose'], `${trial.id} ${c.id}`).toContain(c.anchor);
        for (const [id, guard] of c.guards) {
          for (const w of guard.windows) expect(w.quote ?? w.projectDefault, `${trial.id} ${id}`).toBeTruthy();
        }
      }
    }
  });

  it('stops on a window without an origin, naming the part', () => {
    const dir = scratchWith(BLINA, (t) => {
      delete crit(t, 'exc-17').windows;
    });
    expect(() => loadMappings({ dir })).toThrow(MappingError);
    expect(() => loadMappings({ dir })).toThrow(/criterion exc-17: part exc-17 has a window \(window P4W\) but no origin/);
  });

  it('stops on a quote the protocol text does not hold, and on an origin for a part without a window', () => {
    const misquoted = scratchWith(BLINA, (t) => {
      crit(t, 'exc-17').windows['exc-17'] = { quote: 'within 6 weeks prior to screening' };
    });
    expect(() => loadMappings({ dir: misquoted })).toThrow(/criterion exc-17: windows\.exc-17: the quote "within 6 weeks prior to screening" is not in the item's text/);
    const stray = scratchWith(BLINA, (t) => {
      crit(t, 'exc-19').windows = { 'exc-19': { projectDefault: 'a default for a part with no window' } };
    });
    expect(() => loadMappings({ dir: stray })).toThrow(/criterion exc-19: windows\.exc-19: the part has no window/);
  });

  it('stops on a missing anchor, an unknown anchor or a misspelled origin key (strict schema)', () => {
    const missing = scratchWith(BLINA, (t) => {
      delete crit(t, 'inc-1').anchor;
    });
    expect(() => loadMappings({ dir: missing })).toThrow(/criteria\.0\.anchor \(criterion inc-1\)/);
    const unknown = scratchWith(BLINA, (t) => {
      crit(t, 'inc-1').anchor = 'randomisation';
    });
    expect(() => loadMappings({ dir: unknown })).toThrow(/criteria\.0\.anchor \(criterion inc-1\)/);
    const misspelled = scratchWith(BLINA, (t) => {
      crit(t, 'exc-17').windows['exc-17'] = { qoute: 'Live vaccine within 4 weeks prior to screening' };
    });
    expect(() => loadMappings({ dir: misspelled })).toThrow(/does not match the mapping schema: .*windows\.exc-17/);
  });
});

/**
 * Issue 17 item 5: a code list no criterion reads is dead weight that looks like coverage (the pregnancy
 * and syphilis diagnoses were defined and never read). A list counts as read when a trial's rule names it
 * (`valueSet`, `exceptValueSet`, `broaderValueSet`, a FHIRPath part's `reads`) or the evaluator itself needs
 * it (body weight, the coded result answers). orderables.json does not count: it names the test that settles
 * a criterion, so a list named only there settles nothing.
 */
describe('every code list is read by a criterion, or it goes', () => {
  const ENGINE_LISTS = ['body-weight', 'result-positive', 'result-negative', 'result-indeterminate'];

  function listsNamed(node: unknown, out: Set<string>): Set<string> {
    if (Array.isArray(node)) for (const x of node) listsNamed(x, out);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (['valueSet', 'exceptValueSet', 'broaderValueSet'].includes(key)) for (const id of [value].flat()) out.add(String(id));
        else listsNamed(value, out);
      }
    }
    return out;
  }

  it('has no list that only orderables.json or nothing names', () => {
    const read = new Set(ENGINE_LISTS);
    for (const file of readdirSync(join(MAPPINGS, 'trials'))) listsNamed(JSON.parse(readFileSync(join(MAPPINGS, 'trials', file), 'utf8')), read);
    const lists = readdirSync(join(MAPPINGS, 'valuesets')).map((f) => f.replace(/\.json$/, ''));
    expect(lists.filter((id) => !read.has(id))).toEqual([]);
  });

  it('reads the four lists that were read by none (pregnancy, syphilis, ana-presence, urine-protein-creatinine-ratio)', () => {
    const read = new Set<string>();
    for (const file of readdirSync(join(MAPPINGS, 'trials'))) listsNamed(JSON.parse(readFileSync(join(MAPPINGS, 'trials', file), 'utf8')), read);
    for (const id of ['pregnancy', 'syphilis', 'ana-presence', 'urine-protein-creatinine-ratio']) expect(read, id).toContain(id);
  });
});
