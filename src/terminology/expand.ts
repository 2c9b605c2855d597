import { createHash } from 'node:crypto';
import type { ValueSet, ValueSetComposeInclude, ValueSetExpansionContains } from '@medplum/fhirtypes';
import { CANONICAL_BASE } from './canonical.js';

/**
 * Expands a ValueSet definition (src/terminology/fhir-value-set.ts) from descendant tables extracted from
 * public sources (fhir-mappings/terminology-sources/), as `npm run terminology:expand` does. Pure: the
 * tables and the timestamp are arguments. What it cannot enumerate it names instead: an ICD-10 prefix rule
 * (national editions extend codes without end; the matcher applies it by code structure) and a hierarchy
 * rule with no table.
 */

/** A public table of a concept's descendants: the rows are its descendants (never the root itself). */
export interface DescendantTable {
  file: string;
  system: string;
  root: string;
  rootDisplay: string;
  source: string;
  rows: readonly { code: string; display: string }[];
}

/** On an expansion concept: the hierarchy rule that brought it in (`<system> <op> <code>`). */
export const EXPANDED_FROM_EXTENSION = `${CANONICAL_BASE}/StructureDefinition/expanded-from`;

/** Reads a table: `# key: value` header lines (system, root, source, notes), a `code<TAB>display` line, then rows. */
export function parseDescendantTable(file: string, text: string): DescendantTable {
  const header = new Map<string, string>();
  const rows: { code: string; display: string }[] = [];
  let inRows = false;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (!inRows && line.startsWith('#')) {
      const m = /^#\s*([a-z-]+):\s*(.*)$/.exec(line);
      if (m && !header.has(m[1]!)) header.set(m[1]!, m[2]!.trim());
      continue;
    }
    if (!inRows) {
      if (line !== 'code\tdisplay') throw new Error(`${file}: expected the column line "code<TAB>display", got "${line}"`);
      inRows = true;
      continue;
    }
    const [code, display] = line.split('\t');
    if (!code || !display || !/^\d+$/.test(code)) throw new Error(`${file}: bad row "${line}"`);
    rows.push({ code, display });
  }
  const need = (k: string): string => header.get(k) ?? fail(`${file}: header "# ${k}:" missing`);
  const [root = '', ...rest] = need('root').split('\t');
  if (rows.some((r) => r.code === root)) throw new Error(`${file}: the root ${root} is listed as its own descendant`);
  return { file, system: need('system'), root, rootDisplay: rest.join(' ').trim(), source: need('source'), rows };
}

function fail(message: string): never {
  throw new Error(message);
}

interface Concept {
  system: string;
  code: string;
  display: string;
  from?: string;
}

function ruleName(system: string, op: string, code: string): string {
  return `${system} ${op} ${code}`;
}

/** The concepts one include (or exclude) enumerates, and the rules it holds that cannot be enumerated. */
function enumerate(inc: ValueSetComposeInclude, tables: readonly DescendantTable[], open: string[]): Concept[] {
  const system = inc.system ?? '';
  const out: Concept[] = (inc.concept ?? []).map((c) => ({ system, code: c.code ?? '', display: c.display ?? '' }));
  for (const f of inc.filter ?? []) {
    const name = ruleName(system, f.op ?? '', f.value ?? '');
    const found = tables.filter((t) => t.system === system && t.root === f.value);
    if (f.property !== 'concept' || (f.op !== 'is-a' && f.op !== 'descendent-of') || found.length === 0) {
      open.push(name);
      continue;
    }
    if (f.op === 'is-a') out.push({ system, code: f.value ?? '', display: found[0]!.rootDisplay, from: name });
    for (const t of found) for (const r of t.rows) out.push({ system, code: r.code, display: r.display, from: name });
  }
  return out;
}

/** A short stable hash of JSON: the ValueSet's version is the hash of its compose, so it changes with it. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}

/**
 * The ValueSet with its `version` (the compose's hash) and `expansion`: every concept the includes enumerate,
 * less every concept the excludes enumerate and the codes under an excluded prefix rule, sorted by system and
 * code; `expansion.parameter` names each rule left to the matcher or a terminology server.
 */
export function expandValueSet(definition: ValueSet, tables: readonly DescendantTable[], timestamp: string): ValueSet {
  const compose = definition.compose ?? { include: [] };
  const open: string[] = [];
  const included = compose.include.flatMap((inc) => enumerate(inc, tables, open));
  const excludedOpen: string[] = [];
  const excluded = (compose.exclude ?? []).flatMap((inc) => enumerate(inc, tables, excludedOpen));
  const gone = new Set(excluded.map((c) => `${c.system}|${c.code}`));
  // An excluded prefix rule (ICD "F33.4 and below", no table behind it) removes the listed codes under it too.
  const goneUnder = (compose.exclude ?? []).flatMap((inc) =>
    (inc.filter ?? [])
      .filter((f) => !tables.some((t) => t.system === inc.system && t.root === f.value))
      .map((f) => ({ system: inc.system ?? '', prefix: (f.value ?? '').replace(/\.\*$/, '') })),
  );
  const byKey = new Map<string, Concept>();
  for (const c of included) {
    const key = `${c.system}|${c.code}`;
    if (gone.has(key) || goneUnder.some((g) => g.system === c.system && c.code.startsWith(g.prefix))) continue;
    const had = byKey.get(key);
    // An explicit entry wins over the same code reached through a rule (it is listed, whatever the tables say).
    if (!had || (had.from && !c.from)) byKey.set(key, c);
  }
  const contains: ValueSetExpansionContains[] = [...byKey.values()]
    .sort((a, b) => (a.system === b.system ? (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) : a.system < b.system ? -1 : 1))
    .map((c) => ({
      ...(c.from ? { extension: [{ url: EXPANDED_FROM_EXTENSION, valueString: c.from }] } : {}),
      system: c.system,
      code: c.code,
      display: c.display,
    }));
  const parameter = [
    ...open.map((r) => ({ name: 'not-enumerated', valueString: r })),
    ...excludedOpen.map((r) => ({ name: 'not-enumerated-exclude', valueString: r })),
    ...[...new Set(tables.filter((t) => compose.include.concat(compose.exclude ?? []).some((i) => i.system === t.system && (i.filter ?? []).some((f) => f.value === t.root))).map((t) => t.file))].map((f) => ({ name: 'source-table', valueString: f })),
  ];
  const version = contentHash(compose);
  return {
    ...definition,
    version,
    expansion: {
      identifier: `urn:trialmatch-cds:expansion:${definition.id ?? ''}:${contentHash(contains)}`,
      timestamp,
      total: contains.length,
      ...(parameter.length > 0 ? { parameter } : {}),
      contains,
    },
  };
}
