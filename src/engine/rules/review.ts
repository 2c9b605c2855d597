import { z } from 'zod';
import type { CompiledLeaf } from '../compiled.js';
import { part } from '../part.js';
import { defineKind } from '../rule-kind.js';
import { baseRule } from './fields.js';

const reviewRuleSchema = z.strictObject({
  ...baseRule,
  kind: z.literal('review'),
  label: z.string().min(1),
  /** Why structured data cannot decide it: judgement, consent, or a screening-visit test. */
  reason: z.enum(['judgement', 'consent', 'screening-test', 'not-coded']),
});

export type ReviewLeaf = CompiledLeaf<'review', z.infer<typeof reviewRuleSchema>>;

/** A part the record cannot decide: always for the investigator. It reads no data, so it has no memo key. */
export const reviewKind = defineKind({
  kind: 'review',
  schema: reviewRuleSchema,
  compile(spec, scope): ReviewLeaf {
    const leaf: ReviewLeaf = {
      kind: spec.kind,
      id: scope.id,
      label: spec.label,
      spec,
      reads: [],
      evaluate: () => part(leaf, 'review', `for review (${spec.reason})`),
    };
    return leaf;
  },
});
