import { z } from 'zod';
import type { RuleKind } from '../engine/rule-kind.js';
import { baseRule } from '../engine/rules/fields.js';
import { registryStatusSchema } from '../trials/registry-status.js';

/**
 * The shape of the data in fhir-mappings/: trials, their criteria as rule trees, and shared code lists.
 * zod models what the project owns (mappings); FHIR itself is typed by @medplum/fhirtypes. Each leaf kind's
 * schema lives with its kind (src/engine/rules/); the rule union is built from the registry the loader is
 * given, with the groups (all / any / atLeast / not) that combine them.
 */

/** A leaf as the loader sees it before its kind compiles it. */
export interface LeafInput {
  kind: string;
  id?: string | undefined;
  label?: string | undefined;
}

export type RuleInput =
  | { kind: 'all'; of: RuleInput[]; id?: string; label?: string; note?: string }
  | { kind: 'any'; of: RuleInput[]; id?: string; label?: string; note?: string }
  | { kind: 'atLeast'; n: number; of: RuleInput[]; id?: string; label?: string; note?: string }
  | { kind: 'not'; of: [RuleInput]; id?: string; label?: string; note?: string }
  | LeafInput;

export const GROUP_KINDS: readonly string[] = ['all', 'any', 'atLeast', 'not'];

/**
 * One discriminated union over every kind, groups included, so a mistake is reported against the kind the
 * part names ("Unrecognized key: windw") rather than as "matches none of the alternatives".
 */
export function ruleSchemaFor(kinds: readonly RuleKind[]): z.ZodType<RuleInput> {
  const rule: z.ZodType<RuleInput> = z.lazy(() =>
    z.discriminatedUnion('kind', [
      z.strictObject({ ...baseRule, kind: z.literal('all'), of: z.array(rule).min(1) }),
      z.strictObject({ ...baseRule, kind: z.literal('any'), of: z.array(rule).min(1) }),
      z.strictObject({ ...baseRule, kind: z.literal('not'), of: z.tuple([rule]) }),
      z.strictObject({ ...baseRule, kind: z.literal('atLeast'), n: z.number().int().positive(), of: z.array(rule).min(1) }),
      // Each kind's schema is a strict object with a literal `kind` (defineKind's contract); zod's tuple
      // type cannot see that through the registry's erased type.
      ...(kinds.map((k) => k.schema) as unknown as [z.ZodObject<{ kind: z.ZodLiteral<string> }>]),
    ]),
  );
  return rule;
}

/**
 * The event a protocol item is read against (issue 18 item 3): `screening` is the evaluation time (the
 * service screens today); `consent`, `enrolment` and `first-dose` (initiation, infusion, transfusion, Day 0)
 * are still ahead when a chart is opened, so a window counted back from them cannot be placed from today.
 */
export const anchorSchema = z.enum(['screening', 'consent', 'enrolment', 'first-dose']);

/**
 * Where one part's window (its `window`, `startedAtLeast` or `minCourse`) comes from: the protocol's own
 * words (`quote`, found verbatim in the item's text), or a project default (`projectDefault`, saying why),
 * which never hides a trial on its own. `anchor` when the part counts from another event than its item.
 */
const windowOriginSchema = z
  .strictObject({
    quote: z.string().min(3).optional(),
    projectDefault: z.string().min(10).optional(),
    anchor: anchorSchema.optional(),
  })
  .refine((w) => (w.quote === undefined) !== (w.projectDefault === undefined), {
    message: 'give either "quote" (the protocol\'s words) or "projectDefault" (why the project chose it), not both',
  });

const criterionFields = {
  id: z.string().regex(/^(inc|exc)-[a-z0-9-]+$/),
  type: z.enum(['inclusion', 'exclusion']),
  /** The protocol's own item number, as printed ("7", "3.a"). */
  item: z.string().min(1),
  /** The protocol text of the item, verbatim. */
  text: z.string().min(1),
  /** How the text was read and split into parts. */
  interpretation: z.string().min(1),
  /** The event the item is read against; every item states it. */
  anchor: anchorSchema,
  /** Per part id: where that part's window comes from. Every part with a window has one (checked at load). */
  windows: z.record(z.string().regex(/^(inc|exc)-[a-z0-9.-]+$/), windowOriginSchema).optional(),
};

const trialFields = {
  id: z.string().regex(/^[a-z0-9-]+$/),
  nctId: z
    .string()
    .regex(/^NCT\d{8}$/)
    .optional(),
  title: z.string().min(1),
  shortTitle: z.string().min(1).max(60),
  phase: z.string().min(1),
  studyType: z.enum(['interventional', 'observational']),
  /** The registry status with its as-of date, from the protocol document (src/trials/registry-status.ts). */
  registryStatus: registryStatusSchema,
  registry: z.strictObject({ url: z.url(), label: z.string().min(1) }),
  /** The protocol document the criteria were taken from. */
  protocolSource: z.string().min(1),
};

export type CriterionInput = z.infer<z.ZodObject<typeof criterionFields>> & { rule: RuleInput };
export type Anchor = z.infer<typeof anchorSchema>;
export type WindowOriginInput = z.infer<typeof windowOriginSchema>;
export type TrialInput = z.infer<z.ZodObject<typeof trialFields>> & { criteria: CriterionInput[] };

/** A trial file's schema, its rules made of the given kinds. */
export function trialSchemaFor(kinds: readonly RuleKind[]): z.ZodType<TrialInput> {
  // The id's prefix is the criterion's type (inc- inclusion, exc- exclusion): cards carry only the id and the
  // result per criterion (issue #11, the 8 KiB answer), so a reader takes the type from the id.
  const criterion = z.strictObject({ ...criterionFields, rule: ruleSchemaFor(kinds) }).refine((c) => c.id.startsWith(c.type === 'inclusion' ? 'inc-' : 'exc-'), {
    message: 'the id must start with inc- for an inclusion and exc- for an exclusion',
    path: ['id'],
  });
  return z.strictObject({ ...trialFields, criteria: z.array(criterion).min(1) });
}

/** The code-list schemas live with the terminology (src/terminology/value-set-input.ts); re-exported for the loader. */
export { valueSetSchema, localCodesSchema, type ValueSetInput, type CodeEntry } from '../terminology/value-set-input.js';
