import type { z } from 'zod';
import type { CompiledValueSet } from '../terminology/value-set.js';
import type { CodedLeaf, CompiledLeaf, EngineValueSets, ResourcePredicate } from './compiled.js';

/**
 * One rule kind is one unit (house style "One unit per kind, found through a registry", after
 * json-rules-engine's operator map and cql-execution's per-expression classes): its strict zod schema and
 * its compile step, which returns a leaf that evaluates itself and says what data it reads.
 */

/** A FHIRPath expression compiled once at load, evaluated on a focus with environment variables. */
export type CompiledExpression = (focus: unknown, env: Record<string, unknown>) => unknown[];

/**
 * What the loader gives a kind while compiling one part: the part's id, code-list lookup and FHIRPath
 * compilation, each of which reports a mistake as a mapping error naming the file, criterion and part.
 */
export interface CompileScope {
  /** The part's id: its own, or the criterion id plus its position. */
  id: string;
  engine: EngineValueSets;
  /**
   * Whether this part being not met pushes the trial toward being hidden: a part of an inclusion, or a part
   * under a `not` in an exclusion. Such a part never reads an item the service could not code as absence
   * (issue #17 item 4); the other parts may, since their absence only keeps a trial open.
   */
  absenceExcludes: boolean;
  /** One code list, or the union of several. */
  valueSet(ids: string | readonly string[]): CompiledValueSet;
  /** A FHIRPath boolean filter on one resource. */
  where(expression: string): ResourcePredicate;
  /** A FHIRPath expression with functions of the kind's own (fhirpath.js userInvocationTable). */
  expression(expression: string, functions?: Record<string, unknown>): CompiledExpression;
  /** Stops the load: the mapping says something the kind cannot do. */
  fail(message: string): never;
}

/** A kind as the registry holds it: the schema the loader validates with, and the compile step. */
export interface RuleKind {
  readonly kind: string;
  readonly schema: z.ZodType<{ kind: string }>;
  compile(spec: { kind: string }, scope: CompileScope): CompiledLeaf;
}

/**
 * Declares a kind. The loader hands `compile` only specs that passed this kind's own schema (the rule
 * union discriminates on `kind`), so the one cast below is where that guarantee is written down.
 */
export function defineKind<S extends { kind: string }>(def: {
  kind: S['kind'];
  schema: z.ZodType<S>;
  compile(spec: S, scope: CompileScope): CompiledLeaf;
}): RuleKind {
  return { kind: def.kind, schema: def.schema, compile: (spec, scope) => def.compile(spec as S, scope) };
}

/** A memo key from the kind's name and the values of the fields that change its answer, in order. */
export function memoKey(kind: string, fields: readonly unknown[]): string {
  return JSON.stringify([kind, ...fields]);
}

/** The fields every coded kind shares (see rules/fields.ts `resourceRule`). */
interface CodedSpec {
  label?: string | undefined;
  valueSet: string | string[];
  exceptValueSet?: string | undefined;
  where?: string | undefined;
}

/** The code list, exceptions and filter of a coded part; its label defaults to the code list's title. */
export function codedFields(spec: CodedSpec, scope: CompileScope): Pick<CodedLeaf, 'id' | 'label' | 'valueSet' | 'exceptValueSet' | 'where'> {
  const valueSet = scope.valueSet(spec.valueSet);
  const out: Pick<CodedLeaf, 'id' | 'label' | 'valueSet' | 'exceptValueSet' | 'where'> = { id: scope.id, label: spec.label ?? valueSet.title, valueSet };
  if (spec.exceptValueSet) out.exceptValueSet = scope.valueSet(spec.exceptValueSet);
  if (spec.where) out.where = scope.where(spec.where);
  return out;
}

