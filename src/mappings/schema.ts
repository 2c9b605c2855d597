import { z } from 'zod';

/**
 * The shape of the data in fhir-mappings/: trials, their criteria as rule trees, and shared code lists.
 * zod models what the project owns (mappings); FHIR itself is typed by @medplum/fhirtypes.
 */

/** ISO 8601 duration subset used for look-back windows: P60D, P4W, P3M, P1Y. */
export const durationSchema = z
  .string()
  .regex(/^P\d+[DWMY]$/, 'a duration such as P60D, P4W, P3M or P1Y');

/** What an absent record means for this rule; see README "How criteria are decided". */
const ifNoDataSchema = z.enum(['not-met', 'unknown', 'review']);

const baseRule = {
  /** Stable id inside the criterion; defaults to the criterion id plus its position. */
  id: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/).optional(),
  /** Short text a clinician reads, e.g. "Hemoglobin >= 80 g/L". */
  label: z.string().min(1).optional(),
  /** How the protocol text was read, when this part needs its own note. */
  note: z.string().optional(),
};

const resourceRule = {
  ...baseRule,
  /** One code list, or several read as their union. */
  valueSet: z.union([z.string().min(1), z.array(z.string().min(1)).min(2)]),
  /** Records coded in this list do not count (a protocol's stated exceptions). */
  exceptValueSet: z.string().min(1).optional(),
  /** Look-back from the evaluation time; absent means any time in the record. */
  window: durationSchema.optional(),
  /** A FHIRPath boolean evaluated on each candidate resource; only resources where it is true count. */
  where: z.string().min(1).optional(),
  ifNoData: ifNoDataSchema.optional(),
  /**
   * 'review' when finding the record is not by itself enough (e.g. "severe" antiphospholipid syndrome):
   * the part is then shown for review with the evidence instead of being met.
   */
  onMatch: z.enum(['met', 'review']).optional(),
};

const comparatorSchema = z.enum(['>=', '>', '<=', '<']);

/**
 * Which result decides a lab or measurement part, as the protocol means it (issue #10 item 2): the latest
 * result in the window ("currently >= X"), any result in the window ("positive within 12 months"), or any
 * result ever ("history of a positive test"; no window). Required, so every criterion states it.
 */
const whichSchema = z.enum(['latest', 'any', 'ever']);

/** A window and `which` that contradict each other are a mapping error, not a silent choice. */
function windowFitsWhich(r: { which: 'latest' | 'any' | 'ever'; window?: string | undefined }): boolean {
  return r.which !== 'ever' || r.window === undefined;
}
const WHICH_WINDOW = { message: '"which": "ever" reads every result, so it takes no window', path: ['which'] };

export type RuleInput =
  | { kind: 'all'; of: RuleInput[]; id?: string; label?: string; note?: string }
  | { kind: 'any'; of: RuleInput[]; id?: string; label?: string; note?: string }
  | { kind: 'atLeast'; n: number; of: RuleInput[]; id?: string; label?: string; note?: string }
  | { kind: 'not'; of: [RuleInput]; id?: string; label?: string; note?: string }
  | z.infer<(typeof leafRules)[number]>;

const ageRuleSchema = z.strictObject({
  ...baseRule,
  kind: z.literal('age'),
  min: z.number().nonnegative().optional(),
  max: z.number().positive().optional(),
  minInclusive: z.boolean().default(true),
  maxInclusive: z.boolean().default(true),
});

const sexRuleSchema = z.strictObject({
  ...baseRule,
  kind: z.literal('sex'),
  is: z.array(z.enum(['female', 'male', 'other', 'unknown'])).min(1),
});

const conditionRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('condition'),
  /** Only conditions that are active now (clinicalStatus active/recurrence/relapse, not abated). */
  activeOnly: z.boolean().default(false),
  /** Codes broader than the value set (e.g. "lupus erythematosus" for SLE): found alone, the part is unknown. */
  broaderValueSet: z.string().optional(),
});

const medicationRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('medication'),
  /** Only medications being taken now. */
  currentOnly: z.boolean().default(false),
  /** The current course must have started at least this long ago (a "stable dose for N days" reading). */
  startedAtLeast: durationSchema.optional(),
  /** Glucocorticoid dose as prednisone equivalents per kg of body weight per day. */
  minPrednisoneMgPerKgPerDay: z.number().positive().optional(),
  /** The course at that dose must have lasted at least this long. */
  minCourse: durationSchema.optional(),
  /** At least this many different ingredients of the list ("at least 2 of the following treatments"). */
  minIngredients: z.number().int().min(2).optional(),
  /**
   * Which routes count. 'systemic' (the default for every medication criterion: the protocols mean systemic
   * therapy) leaves out topical, ophthalmic, otic, nasal, inhaled, rectal and vaginal use, read from the
   * dosage route or the product's dose form; 'any' counts every route.
   */
  routes: z.enum(['systemic', 'any']).default('systemic'),
});

const procedureRuleSchema = z.strictObject({ ...resourceRule, kind: z.literal('procedure') });
const immunizationRuleSchema = z.strictObject({ ...resourceRule, kind: z.literal('immunization') });

const measurementRuleSchema = z
  .strictObject({
    ...resourceRule,
    kind: z.literal('measurement'),
    which: whichSchema,
    comparator: comparatorSchema,
    /** Absolute threshold in `unit` (UCUM). */
    value: z.number().optional(),
    unit: z.string().optional(),
    /** Threshold as a multiple of the upper limit of normal (Observation.referenceRange.high). */
    timesUln: z.number().positive().optional(),
    /** Used only when the result carries no referenceRange.high; said so in the evidence. */
    defaultUln: z.strictObject({ value: z.number().positive(), unit: z.string() }).optional(),
    /** g/mol, for converting mass to substance concentrations (e.g. bilirubin mg/dL to umol/L). */
    molecularWeight: z.number().positive().optional(),
    /** Where the window comes from: the protocol text, or the project's stated default. */
    windowSource: z.enum(['protocol', 'default']).default('default'),
  })
  .refine((r) => (r.value !== undefined && r.unit !== undefined) !== (r.timesUln !== undefined), {
    message: 'a measurement needs either value+unit or timesUln',
  })
  .refine(windowFitsWhich, WHICH_WINDOW);

const labPositiveRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('lab-positive'),
  which: whichSchema,
  /** 'negative' for criteria that require a negative test (met when negative). */
  expect: z.enum(['positive', 'negative']).default('positive'),
  windowSource: z.enum(['protocol', 'default']).default('default'),
}).refine(windowFitsWhich, WHICH_WINDOW);

const titerRuleSchema = z.strictObject({
  ...resourceRule,
  kind: z.literal('titer'),
  which: whichSchema,
  /** Minimum dilution denominator, e.g. 80 for ">= 1:80". */
  minDilution: z.number().int().positive(),
  windowSource: z.enum(['protocol', 'default']).default('default'),
}).refine(windowFitsWhich, WHICH_WINDOW);

const reviewRuleSchema = z.strictObject({
  ...baseRule,
  kind: z.literal('review'),
  label: z.string().min(1),
  /** Why structured data cannot decide it: judgement, consent, or a screening-visit test. */
  reason: z.enum(['judgement', 'consent', 'screening-test', 'not-coded']),
});

const leafRules = [
  ageRuleSchema,
  sexRuleSchema,
  conditionRuleSchema,
  medicationRuleSchema,
  procedureRuleSchema,
  immunizationRuleSchema,
  measurementRuleSchema,
  labPositiveRuleSchema,
  titerRuleSchema,
  reviewRuleSchema,
] as const;

/**
 * One discriminated union over every kind, groups included, so a mistake is reported against the kind the
 * part names ("Unrecognized key: windw") rather than as "matches none of the alternatives".
 */
export const ruleSchema: z.ZodType<RuleInput> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ ...baseRule, kind: z.literal('all'), of: z.array(ruleSchema).min(1) }),
    z.strictObject({ ...baseRule, kind: z.literal('any'), of: z.array(ruleSchema).min(1) }),
    z.strictObject({ ...baseRule, kind: z.literal('not'), of: z.tuple([ruleSchema]) }),
    z.strictObject({ ...baseRule, kind: z.literal('atLeast'), n: z.number().int().positive(), of: z.array(ruleSchema).min(1) }),
    ...leafRules,
  ]),
);

export const criterionSchema = z.strictObject({
  id: z.string().regex(/^(inc|exc)-[a-z0-9-]+$/),
  type: z.enum(['inclusion', 'exclusion']),
  /** The protocol's own item number, as printed ("7", "3.a"). */
  item: z.string().min(1),
  /** The protocol text of the item, verbatim. */
  text: z.string().min(1),
  /** How the text was read and split into parts. */
  interpretation: z.string().min(1),
  rule: ruleSchema,
});

export const trialSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  nctId: z
    .string()
    .regex(/^NCT\d{8}$/)
    .optional(),
  title: z.string().min(1),
  shortTitle: z.string().min(1).max(60),
  phase: z.string().min(1),
  studyType: z.enum(['interventional', 'observational']),
  recruitmentStatus: z.string().min(1),
  registry: z.strictObject({ url: z.url(), label: z.string().min(1) }),
  /** The protocol document the criteria were taken from. */
  protocolSource: z.string().min(1),
  criteria: z.array(criterionSchema).min(1),
});

const codeEntrySchema = z.strictObject({
  system: z.string().min(1),
  code: z.string().min(1),
  display: z.string().min(1),
  source: z.string().min(1),
  prefix: z.boolean().optional(),
  exclude: z.boolean().optional(),
  tty: z.string().optional(),
  ingredient: z.string().optional(),
  strength: z.strictObject({ value: z.number().positive(), unit: z.string() }).optional(),
  prednisoneEquivalentFactor: z.number().positive().optional(),
  unit: z.string().optional(),
});

export const valueSetSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  title: z.string().min(1),
  description: z.string().min(1),
  codes: z.array(codeEntrySchema),
  /** The VSAC value set (OID) the codes were drawn from; the list may be a reviewed subset of it. */
  oid: z.string().regex(/^\d+(\.\d+)+$/).optional(),
  names: z.array(z.string().min(3)).optional(),
  /**
   * Other names of an ingredient (brands, abbreviations, other languages) -> the ingredient they stand for:
   * an RxNorm IN code of this list, or a generic name in `names`. Each is also matched as a name, and counts
   * as that ingredient, so "CellCept" and "mycophenolate mofetil" (coded or named) are one agent.
   */
  synonyms: z.record(z.string().min(2), z.string().min(1)).optional(),
});

/** A site's own codes, added to the shared code lists without a code change. */
export const localCodesSchema = z.strictObject({
  valueSets: z.record(
    z.string(),
    z.array(
      codeEntrySchema.extend({
        source: z.string().min(1).default('site configuration'),
      }),
    ),
  ),
});

export type TrialInput = z.infer<typeof trialSchema>;
export type CriterionInput = z.infer<typeof criterionSchema>;
export type ValueSetInput = z.infer<typeof valueSetSchema>;
export type CodeEntry = z.infer<typeof codeEntrySchema>;
export type LeafRuleInput = z.infer<(typeof leafRules)[number]>;
