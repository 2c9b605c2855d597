import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadConfig } from '../src/config.js';
import { evaluateBundle } from '../src/cds/handle-patient-view.js';
import { loadExamples } from '../src/examples/example-patients.js';
import type { MappingSet } from '../src/mappings/compiled.js';
import { MappingError, loadMappings } from '../src/mappings/load-mappings.js';
import { reportTrial, type TrialReport } from '../src/mappings/trial-report.js';

/**
 * `npm run check-trial -- [file or folder ...] [--json]` (issue #21 item 1): what a site runs before a trial file
 * goes live. It loads the trial with the service's mappings (MAPPINGS_DIR, LOCAL_CODES_FILE and
 * LOCAL_CONCEPT_MAP_FILE as start-up reads them) through the same loader, so every check start-up makes is
 * made here, and every mistake of every file is listed, not only the first. Then, per trial: each protocol
 * item's kinds, code lists, windows and the events they count from, whether the record can decide it, and the
 * status each bundled example patient gets. Exits 1 on any mistake, 2 on a wrong command line.
 *
 * A file is checked beside the installed trials (a duplicate id is its fault); a folder holding `trials/` is a
 * whole mappings folder; another folder is a set of trial files; no argument checks the installed trials.
 */

interface Target {
  mappingsDir: string;
  extraTrialFiles: string[];
  /** The files whose trials are reported; undefined: every trial loaded. */
  reported?: readonly string[];
}

const jsonIn = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));

function targetOf(paths: readonly string[], installedDir: string): Target {
  if (paths.length === 0) return { mappingsDir: installedDir, extraTrialFiles: [] };
  const first = resolve(paths[0] ?? '');
  if (paths.length === 1 && existsSync(join(first, 'trials')) && statSync(first).isDirectory()) return { mappingsDir: first, extraTrialFiles: [] };
  const installedTrials = resolve(installedDir, 'trials');
  const files = paths.flatMap((p) => {
    const abs = resolve(p);
    if (!existsSync(abs)) throw new Error(`${p}: no such file or folder`);
    return statSync(abs).isDirectory() ? jsonIn(abs) : [abs];
  });
  // A file of the installed folder is already loaded from it.
  return { mappingsDir: installedDir, extraTrialFiles: files.filter((f) => resolve(f, '..') !== installedTrials), reported: files };
}

interface ExampleStatus {
  id: string;
  name: string;
  status: string;
  why: string;
}

/** Each bundled example patient through the same evaluation as POST /trials/$evaluate, at the examples' own date. */
function examplesFor(mappings: MappingSet, trialId: string, examplesDir: string): { at: string; patients: ExampleStatus[] } {
  const examples = loadExamples(examplesDir);
  const one = { ...mappings, trials: mappings.trials.filter((t) => t.id === trialId) };
  // The FHIR settings are not used: a Bundle is evaluated as given, nothing is fetched.
  const deps = { mappings: one, fhir: { timeoutMs: 1, maxPages: 1, maxResources: 1 } };
  return {
    at: examples.anchorDate.toISOString().slice(0, 10),
    patients: examples.patients.map((p) => {
      const evaluation = evaluateBundle(p.bundle, deps, examples.anchorDate).evaluations[0];
      return { id: p.id, name: p.name, status: evaluation?.status ?? 'not evaluated', why: evaluation?.statusReason.text ?? '' };
    }),
  };
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function renderReport(report: TrialReport, examples: { at: string; patients: ExampleStatus[] }, cwd: string): string[] {
  const lines = [`OK ${report.id} (${relative(cwd, report.file)})`];
  for (const c of report.criteria) {
    const item = `${c.type === 'inclusion' ? 'I' : 'E'}${c.item}`.padEnd(6);
    lines.push(`  ${item} ${c.id.padEnd(14)} ${c.decides.padEnd(9)} ${c.kinds.join(', ')}${c.lists.length > 0 ? `; lists: ${c.lists.join(', ')}` : ''}`);
    for (const w of c.windows) lines.push(`         window ${w}`);
    for (const n of c.notes) lines.push(`         note: ${n}`);
  }
  const { automatic, mixed, review, total } = report.counts;
  lines.push(`  The record can decide ${automatic} of ${total} items, and part of ${plural(mixed, 'more item')}; ${plural(review, 'item')} ${review === 1 ? 'is' : 'are'} for the study team alone.`);
  lines.push(`  Example patients (evaluated at ${examples.at}, the date they are written against):`);
  const width = Math.max(...examples.patients.map((p) => p.id.length));
  for (const p of examples.patients) lines.push(`    ${p.id.padEnd(width)}  ${p.status.padEnd(17)}  ${p.why}`);
  return lines;
}

function main(argv: readonly string[]): number {
  const json = argv.includes('--json');
  const paths = argv.filter((a) => a !== '--json');
  const unknownFlag = paths.find((a) => a.startsWith('--'));
  if (unknownFlag) {
    process.stderr.write(`unknown option ${unknownFlag}\nusage: npm run check-trial -- [trial file or folder ...] [--json]\n`);
    return 2;
  }
  const config = loadConfig();
  const target = targetOf(paths, config.mappingsDir);
  const problems: MappingError[] = [];
  const mappings = loadMappings({
    dir: target.mappingsDir,
    extraTrialFiles: target.extraTrialFiles,
    problems,
    ...(config.localCodesFile ? { localCodesFile: config.localCodesFile } : {}),
    ...(config.localConceptMapFile ? { localConceptMapFile: config.localConceptMapFile } : {}),
  });
  const reported = mappings.trials.filter((t) => !target.reported || target.reported.includes(resolve(t.file)));
  const units = (id: string): readonly string[] => mappings.listUnits.get(id) ?? [];
  const examplesDir = join(config.cdsHooksDir, 'examples');
  const results = reported.map((t) => ({ report: reportTrial(t, units), examples: examplesFor(mappings, t.id, examplesDir) }));
  if (json) {
    process.stdout.write(`${JSON.stringify({ errors: problems.map((p) => ({ file: p.file, message: p.message })), trials: results }, null, 2)}\n`);
  } else {
    const cwd = process.cwd();
    const lines = [`check-trial: ${relative(cwd, target.mappingsDir) || '.'}${target.extraTrialFiles.length > 0 ? ` with ${plural(target.extraTrialFiles.length, 'file')} to check` : ''}`, ''];
    for (const p of problems) lines.push(`ERROR ${relative(cwd, p.file)}: ${p.message.slice(p.file.length + 2).replaceAll(`${cwd}/`, '')}`, '');
    for (const r of results) lines.push(...renderReport(r.report, r.examples, cwd), '');
    lines.push(problems.length > 0 ? `${plural(problems.length, 'error')}: the service would not start with these files.` : `No errors: ${plural(results.length, 'trial')} checked.`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return problems.length > 0 ? 1 : 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  // A mistake outside the trial files (a code list, the local codes file) stops the load as it stops start-up.
  process.stderr.write(`ERROR ${err instanceof MappingError ? err.message : (err as Error).message}\n`);
  process.exitCode = 1;
}
