import type { RuleKind } from '../rule-kind.js';
import { conditionKind } from './condition.js';
import { ageKind, sexKind } from './demographics.js';
import { immunizationKind, procedureKind } from './event.js';
import { fhirpathKind } from './fhirpath.js';
import { measurementKind } from './measurement.js';
import { medicationKind } from './medication-kind.js';
import { labPositiveKind, titerKind } from './qualitative.js';
import { reviewKind } from './review.js';

/**
 * Every rule kind a mapping may name. Adding a kind is its file in this folder and one line here; the
 * loader validates and compiles with this list (or one a test passes to loadMappings), the evaluator calls
 * each leaf's own `evaluate`, and discovery's prefetch reads each leaf's `reads`.
 */
export const RULE_KINDS: readonly RuleKind[] = [
  ageKind,
  sexKind,
  conditionKind,
  medicationKind,
  procedureKind,
  immunizationKind,
  measurementKind,
  labPositiveKind,
  titerKind,
  reviewKind,
  fhirpathKind,
];
