import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Writes docs/criteria-reading.md from fhir-mappings/trials/: for every part of every protocol item, which
 * resources decide it, which result (latest / any / ever), the window, what absent data gives and what an
 * ambiguous record gives. Generated from the mappings, so it cannot drift from them: a test compares the
 * committed file with a fresh rendering. `npx tsx scripts/criteria-table.ts` rewrites it.
 */

const ROOT = resolve(import.meta.dirname, '..');
export const CRITERIA_DOC = resolve(ROOT, 'docs', 'criteria-reading.md');

interface Part {
  kind: string;
  id?: string;
  label?: string;
  of?: Part[];
  n?: number;
  valueSet?: string | string[];
  exceptValueSet?: string;
  window?: string;
  which?: string;
  ifNoData?: string;
  onMatch?: string;
  activeOnly?: boolean;
  currentOnly?: boolean;
  reason?: string;
  [key: string]: unknown;
}

interface WindowOrigin {
  quote?: string;
  projectDefault?: string;
  anchor?: string;
}

interface Criterion {
  id: string;
  type: 'inclusion' | 'exclusion';
  item: string;
  anchor: string;
  windows?: Record<string, WindowOrigin>;
  rule: Part;
}

interface Trial {
  id: string;
  shortTitle: string;
  nctId?: string;
  criteria: Criterion[];
}

const READS: Readonly<Record<string, string>> = {
  age: 'Patient.birthDate',
  sex: 'Patient.gender',
  condition: 'Condition',
  medication: 'MedicationStatement, MedicationRequest, MedicationAdministration, MedicationDispense',
  procedure: 'Procedure',
  immunization: 'Immunization',
  measurement: 'Observation (quantity)',
  'lab-positive': 'Observation (coded, text, flag or range)',
  titer: 'Observation (titre)',
  fhirpath: 'FHIRPath over the record',
  review: '(study team)',
};

/** What a record that cannot be read cleanly gives, per kind (the engine's rules; issue #10). */
const AMBIGUOUS: Readonly<Record<string, string>> = {
  age: 'no birth date: unknown; a year or month of birth on either side of a bound: unknown, both ages shown',
  sex: 'no gender: unknown',
  condition: 'unconfirmed / provisional: unknown; a broader code only: unknown; refuted / entered-in-error: ignored; with a window, only a recorded date in it, or a month / year across its start: unknown',
  medication:
    'order not shown given: unknown, never an exclusion; cancelled / entered-in-error / draft: ignored; topical or inhaled: not systemic; missing dates or dose, only dateAsserted, or a month / year across a limit: unknown',
  procedure: 'no date, only meta.lastUpdated, or a month / year across the window start: unknown; not-done / entered-in-error: ignored',
  immunization: 'no date, only the recorded date, or a month / year across the window start: unknown; not-done / entered-in-error: ignored',
  measurement: 'no number, an unconvertible unit, or "<x" across the threshold: unknown; with a window, dated only by issued: unknown',
  'lab-positive': 'wording not clearly read, mixed or indeterminate: unknown; with a window, dated only by issued: unknown; a positive it does not decide on (outside the window, for review): a fact, trial at most "possibly"',
  titer: 'no titre and not negative: unknown; with a window, dated only by issued: unknown',
  fhirpath: 'empty result, or data not read: unknown',
  review: 'always for the study team',
};

function valueSets(p: Part): string {
  const vs = Array.isArray(p.valueSet) ? p.valueSet.join(' + ') : (p.valueSet ?? '');
  return p.exceptValueSet ? `${vs} (except ${p.exceptValueSet})` : vs;
}

function decidedBy(p: Part): string {
  if (p.which) return p.which;
  if (p.kind === 'condition') return p.activeOnly ? 'active now' : 'any entry';
  if (p.kind === 'medication') return p.currentOnly ? 'current' : 'any exposure';
  if (p.kind === 'procedure' || p.kind === 'immunization') return 'any';
  return '';
}

function windowOf(p: Part): string {
  if (p.window) return p.window;
  if (typeof p.startedAtLeast === 'string') return `stable ≥ ${p.startedAtLeast}`;
  if (typeof p.minCourse === 'string') return `course ≥ ${p.minCourse}`;
  if (p.kind === 'condition' && !p.activeOnly) return 'ever';
  if (p.which === 'ever' || p.kind === 'procedure' || p.kind === 'immunization') return 'ever';
  return '';
}

function absent(p: Part): string {
  if (p.kind === 'review') return 'review';
  if (p.ifNoData) return p.ifNoData;
  if (['measurement', 'lab-positive', 'titer', 'age', 'sex', 'fhirpath'].includes(p.kind)) return 'unknown';
  if (p.kind === 'medication') return 'not met; unknown when the record holds no medication data at all';
  return 'not met (unknown if the data could not be read)';
}

function ambiguous(p: Part): string {
  const extra = [
    p.onMatch === 'review' ? 'a finding goes to review, never decides alone' : undefined,
    p.confirmedBy ? `a reactive screen is decided by ${confirmationText(p.confirmedBy)}` : undefined,
    p.kind === 'condition' && p.window ? 'an active entry dated before the window: review' : undefined,
    p.kind === 'review' && p.reason ? `(${p.reason})` : undefined,
  ].filter(Boolean);
  return extra.join('; ');
}

/** "hbsag-confirmatory within P30D": a negative on every list named sets the screen aside (rules/confirmation.ts). */
function confirmationText(c: unknown): string {
  const { valueSet, within } = c as { valueSet: string | string[]; within: string };
  const lists = Array.isArray(valueSet) ? valueSet.join(' + ') : valueSet;
  return `${lists} within ${within} (negative on ${Array.isArray(valueSet) ? 'each' : 'it'}: not positive; incomplete: unknown)`;
}

function leaves(p: Part, id: string, out: { id: string; part: Part }[]): { id: string; part: Part }[] {
  if (p.of) p.of.forEach((x, i) => leaves(x, x.id ?? `${id}.${i + 1}`, out));
  else out.push({ id: p.id ?? id, part: p });
  return out;
}

const cell = (s: string): string => s.replaceAll('|', '\\|');

const ANCHOR_WORDS: Readonly<Record<string, string>> = {
  screening: 'screening (today)',
  consent: 'consent (ahead)',
  enrolment: 'enrolment (ahead)',
  'first-dose': 'first dose (ahead)',
};

/** Where a part's window comes from: the protocol's words, or the project's default and why. */
function windowOrigin(origin: WindowOrigin | undefined): string {
  if (!origin) return '';
  return origin.quote !== undefined ? `protocol: "${origin.quote}"` : `project default: ${origin.projectDefault ?? ''}`;
}

export function renderCriteriaTable(dir: string = resolve(ROOT, 'fhir-mappings', 'trials')): string {
  const lines = [
    '# How each protocol item is read from the record',
    '',
    'Generated by `npx tsx scripts/criteria-table.ts` from `fhir-mappings/trials/`; a test keeps it current.',
    'One row per part of every numbered protocol item. *Decided by*: `latest` (the most recent result in the',
    'window decides), `any` (one result in the window is enough; not met only when every result was read and',
    'none meets it), `ever` (any result in the record). *Absent*: what the part gives when the record holds no',
    'matching data. *Also*: what this part adds to its kind\'s reading of an ambiguous record (below).',
    '*Anchor*: the event the part is read against (issue 18 item 3): screening is the evaluation time; consent,',
    'enrolment and the first study dose are still ahead, so a window counted back from them is `met` only when the',
    'record already proves it, else it goes to the study team with what the record shows. *Window from*: the',
    'protocol\'s own words, or a project default, which never hides a trial on its own (src/engine/window-guard.ts).',
    '',
    '| kind | reads | an ambiguous record gives (never an exclusion) |',
    '| --- | --- | --- |',
    ...Object.keys(READS).map((k) => `| ${k} | ${cell(READS[k] ?? '')} | ${cell(AMBIGUOUS[k] ?? '')} |`),
    '',
  ];
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  for (const file of files) {
    const trial = JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as Trial;
    const nct = trial.nctId && !trial.shortTitle.includes(trial.nctId) ? ` (${trial.nctId})` : '';
    lines.push(`## ${trial.shortTitle}${nct}`, '', `\`fhir-mappings/trials/${file}\``, '');
    lines.push('| item | part | what | kind | code lists | decided by | window | anchor | window from | absent | also |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const c of trial.criteria) {
      const item = `${c.type === 'inclusion' ? 'I' : 'E'}${c.item}`;
      for (const { id, part } of leaves(c.rule, c.rule.id ?? c.id, [])) {
        const origin = c.windows?.[id];
        const anchor = ANCHOR_WORDS[origin?.anchor ?? c.anchor] ?? c.anchor;
        const row = [item, id, part.label ?? '', part.kind, valueSets(part), decidedBy(part), windowOf(part), anchor, windowOrigin(origin), absent(part), ambiguous(part)];
        lines.push(`| ${row.map(cell).join(' | ')} |`);
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  writeFileSync(CRITERIA_DOC, renderCriteriaTable());
  console.log(`wrote ${CRITERIA_DOC}`);
}
