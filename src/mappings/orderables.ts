import { z } from 'zod';
import type { CompiledRule, CompiledTrial } from '../engine/compiled.js';
import type { CompiledValueSet } from '../terminology/value-set.js';

/**
 * The tests that settle an unknown criterion, as data beside the code lists (fhir-mappings/orderables.json,
 * issue #11 items 1 and 2): per code list, what a clinician orders or records, in words for the card, and for
 * laboratory and imaging tests the orderable LOINC or SNOMED CT procedure code with the source it was checked
 * against. Validated strictly and compiled once, with the trials, into a lookup by trial and part.
 */

const ORDERABLE_SYSTEMS = ['http://loinc.org', 'http://snomed.info/sct'] as const;

const orderSchema = z.strictObject({
  system: z.enum(ORDERABLE_SYSTEMS),
  code: z.string().regex(/^[0-9][0-9-]*$/),
  display: z.string().min(1),
  /** Where the code was checked; never guessed. */
  source: z.string().min(20),
});

const testSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9-]+$/),
    /** The test as the card's detail names it ("hepatic function panel (AST, ALT, bilirubin)"). */
    label: z.string().min(1).max(60),
    /** The same in two or three words, for the card's summary ("liver tests"). */
    short: z.string().min(1).max(25),
    valueSets: z.array(z.string().min(1)).min(1),
    category: z.enum(['laboratory', 'imaging', 'assessment', 'vital-sign']),
    order: orderSchema.optional(),
  })
  .refine((t) => !t.order || t.category === 'laboratory' || t.category === 'imaging', {
    message: 'only laboratory and imaging tests carry an orderable code',
    path: ['order'],
  });

export const orderablesSchema = z.strictObject({
  description: z.string().min(1),
  tests: z.array(testSchema),
});

export type OrderablesInput = z.infer<typeof orderablesSchema>;

export interface ScreeningTest {
  id: string;
  label: string;
  short: string;
  category: 'laboratory' | 'imaging' | 'assessment' | 'vital-sign' | 'other';
  order?: { system: string; code: string; display: string; source: string };
}

/** What settles one part when it is unknown: the tests for the Observation code lists it reads. */
export interface PartNeeds {
  kind: string;
  tests: readonly ScreeningTest[];
}

export interface Orderables {
  tests: readonly ScreeningTest[];
  /** trial id -> part id -> the tests that settle that part. */
  parts: ReadonlyMap<string, ReadonlyMap<string, PartNeeds>>;
}

export const NO_ORDERABLES: Orderables = { tests: [], parts: new Map() };

function walkLeaves(rule: CompiledRule, visit: (leaf: Exclude<CompiledRule, { of: unknown }>) => void): void {
  if ('of' in rule) for (const r of rule.of) walkLeaves(r, visit);
  else visit(rule);
}

/**
 * Compiles the tests against the code lists and trials: every code list named must exist and be named once;
 * a list without an entry is named by its own title and has no order. `fail` throws the loader's error.
 */
export function compileOrderables(
  input: OrderablesInput,
  valueSets: ReadonlyMap<string, CompiledValueSet>,
  trials: readonly CompiledTrial[],
  fail: (message: string) => never,
): Orderables {
  const byValueSet = new Map<string, ScreeningTest>();
  const tests: ScreeningTest[] = [];
  const ids = new Set<string>();
  for (const t of input.tests) {
    if (ids.has(t.id)) fail(`duplicate test id "${t.id}"`);
    ids.add(t.id);
    const test: ScreeningTest = { id: t.id, label: t.label, short: t.short, category: t.category, ...(t.order ? { order: t.order } : {}) };
    tests.push(test);
    for (const vs of t.valueSets) {
      if (!valueSets.has(vs)) fail(`test "${t.id}" names unknown value set "${vs}"`);
      if (byValueSet.has(vs)) fail(`value set "${vs}" is settled by two tests ("${byValueSet.get(vs)?.id}" and "${t.id}")`);
      byValueSet.set(vs, test);
    }
  }
  const fallback = new Map<string, ScreeningTest>();
  const testFor = (set: CompiledValueSet): ScreeningTest => {
    const known = byValueSet.get(set.id);
    if (known) return known;
    let named = fallback.get(set.id);
    if (!named) {
      named = { id: set.id, label: set.title, short: set.title, category: 'other' };
      fallback.set(set.id, named);
    }
    return named;
  };
  const parts = new Map<string, Map<string, PartNeeds>>();
  for (const trial of trials) {
    const byPart = new Map<string, PartNeeds>();
    for (const c of trial.criteria) {
      walkLeaves(c.rule, (leaf) => {
        const needed: ScreeningTest[] = [];
        for (const read of leaf.reads) {
          if (read.resourceType !== 'Observation' || !read.valueSet || read.role === 'confirmation') continue;
          for (const set of read.valueSet.members ?? [read.valueSet]) {
            const test = testFor(set);
            if (!needed.includes(test)) needed.push(test);
          }
        }
        byPart.set(leaf.id, { kind: leaf.kind, tests: needed });
      });
    }
    parts.set(trial.id, byPart);
  }
  return { tests, parts };
}
