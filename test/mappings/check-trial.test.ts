import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MappingError, loadMappings } from '../../src/mappings/load-mappings.js';
import { ROOT, testApp } from '../support/app.js';

/**
 * Issue #21 item 1: the trial-file mistakes that used to load without a word (or with the wrong file named,
 * or with a character offset) each have a file in test/fixtures/trials/broken/, run through the real
 * command and through start-up; test/fixtures/trials/good/ holds one that passes.
 */

const MAPPINGS = resolve(ROOT, 'fhir-mappings');
const FIXTURES = resolve(ROOT, 'test', 'fixtures', 'trials');
const BROKEN = join(FIXTURES, 'broken');
const GOOD = join(FIXTURES, 'good', 'site-sledai-registry.json');
const TSX = resolve(ROOT, 'node_modules', '.bin', 'tsx');
const SCRIPT = resolve(ROOT, 'scripts', 'check-trial.ts');

/** Each broken file and the words that must name its mistake (in check-trial's output and at start-up). */
const MISTAKES: Record<string, RegExp> = {
  'site-sledai-units.json': /criterion inc-3, part inc-3: unit "mg\/dL" is not comparable with what the code list "sledai-2k" measures \(\{score\}\)/,
  'site-age-inverted.json': /criterion inc-2, part inc-2: >= 17 years and <= 12 years: no age meets both/,
  'site-value-range-inverted.json': /criterion exc-1, parts exc-1\.high and exc-1\.low: > 10 g\/dL and < 8 g\/dL: no result meets both/,
  'site-window-zero.json': /criterion inc-3, part inc-3: window P0D is not a positive duration/,
  'site-sledai-registry-v2.json': /id "site-sledai-registry" does not match the file name: name the file site-sledai-registry\.json/,
  'blinatumomab-copy.json': /duplicate trial id "nct06789107-blinatumomab": \S*nct06789107-blinatumomab\.json already has it/,
  'site-json-syntax.json': /not valid JSON: Expected ',' or '\}' after property value at line 6 column 3/,
};

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** The installed mappings with one more file in trials/, as a site would add it (code lists linked, not copied). */
function mappingsWith(file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'trialmatch-check-trial-'));
  scratch.push(dir);
  for (const entry of ['valuesets', 'expansions', 'orderables.json']) symlinkSync(join(MAPPINGS, entry), join(dir, entry));
  mkdirSync(join(dir, 'trials'));
  for (const t of readdirSync(join(MAPPINGS, 'trials'))) copyFileSync(join(MAPPINGS, 'trials', t), join(dir, 'trials', t));
  copyFileSync(file, join(dir, 'trials', basename(file)));
  return dir;
}

function checkTrial(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(TSX, [SCRIPT, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' } });
}

describe('npm run check-trial', () => {
  it('names every mistake of every broken trial file, each against its file, and exits 1', () => {
    const run = checkTrial(BROKEN);
    expect(run.status).toBe(1);
    for (const [file, mistake] of Object.entries(MISTAKES)) {
      const line = run.stdout.split('\n').find((l) => l.startsWith(`ERROR test/fixtures/trials/broken/${file}: `));
      expect(line, `${file} is named`).toBeDefined();
      expect(line).toMatch(mistake);
    }
    expect(run.stdout).toMatch(/7 errors: the service would not start with these files\./);
  });

  it('reports a good trial item by item, with what the record can decide and each example patient\'s status, and exits 0', () => {
    const run = checkTrial(GOOD);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^OK site-sledai-registry \(test\/fixtures\/trials\/good\/site-sledai-registry\.json\)$/m);
    expect(run.stdout).toMatch(/I1 +inc-1 +mixed +condition, review; lists: sle, lupus-unspecified \(broader\)/);
    expect(run.stdout).toMatch(/I3 +inc-3 +automatic +measurement; lists: sledai-2k\n +window inc-3: P30D back from screening \(today\) \(protocol: "within the last 30 days"\)/);
    expect(run.stdout).toMatch(/I4 +inc-4 +review +review/);
    expect(run.stdout).toContain('The record can decide 3 of 5 items, and part of 1 more item; 1 item is for the study team alone.');
    // The 15-year-old with no SLEDAI-2K in the record: possibly, waiting on the score; the adults are too old.
    expect(run.stdout).toMatch(/sle-teen-missing-tests +possibly-eligible +Inclusion 3, Exclusion 1: data missing/);
    expect(run.stdout).toMatch(/sle-adult-refractory +ineligible +Inclusion 2 not met/);
    expect(run.stdout).toMatch(/No errors: 1 trial checked\./);
  });

  it('runs as the npm script a site is told to use, and checks the installed trials when given nothing', () => {
    const run = spawnSync('npm', ['run', '--silent', 'check-trial', '--', join(BROKEN, 'site-sledai-units.json')], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(MISTAKES['site-sledai-units.json'] ?? /never/);
    const installed = checkTrial('--json');
    expect(installed.status).toBe(0);
    const report = JSON.parse(installed.stdout) as { errors: unknown[]; trials: { report: { id: string; counts: { total: number } } }[] };
    expect(report.errors).toEqual([]);
    expect(report.trials.map((t) => t.report.id).sort()).toEqual(readdirSync(join(MAPPINGS, 'trials')).map((f) => f.replace(/\.json$/, '')).sort());
  }, 60_000);
});

describe('start-up runs the same checks', () => {
  it.each(Object.keys(MISTAKES))('refuses %s in fhir-mappings/trials/, naming the file and the mistake', (file) => {
    const dir = mappingsWith(join(BROKEN, file));
    let error: unknown;
    try {
      loadMappings({ dir });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MappingError);
    // The newer file is blamed for a duplicate id even though it sorts (and so loads) before the original.
    expect((error as MappingError).file).toBe(join(dir, 'trials', file));
    expect((error as MappingError).message).toMatch(MISTAKES[file] ?? /never/);
  });

  it('does not start the service on a SLEDAI-2K part in mg/dL', () => {
    expect(() => testApp({}, { MAPPINGS_DIR: mappingsWith(join(BROKEN, 'site-sledai-units.json')) })).toThrow(/unit "mg\/dL" is not comparable/);
  });

  it('loads the good trial as a sixth trial', () => {
    expect(loadMappings({ dir: mappingsWith(GOOD) }).trials.map((t) => t.id)).toContain('site-sledai-registry');
  });
});
