import type { Condition } from '@medplum/fhirtypes';
import type { CompiledLeaf } from '../../mappings/compiled.js';
import { referenceOf } from '../../patient/patient-record.js';
import { describeDuration, formatDate, parseFhirDate, subtractDuration } from '../dates.js';
import { candidatesFor, findByValueSet, passesFilters, unavailableReason, type EvalContext } from '../context.js';
import { foundOutcome, noDataOutcome, part } from '../part.js';
import type { Evidence, PartResult } from '../types.js';

const IGNORED_VERIFICATION = new Set(['refuted', 'entered-in-error']);
const TENTATIVE_VERIFICATION = new Set(['unconfirmed', 'provisional', 'differential']);
const ACTIVE_CLINICAL = new Set(['active', 'recurrence', 'relapse']);

function code(c: Condition, system?: string): string | undefined {
  return c.clinicalStatus?.coding?.find((x) => !system || x.system === system)?.code;
}

/** Active now: an active clinical status, or no status and no abatement (FHIR R4 con-3 reading). */
export function isActiveCondition(c: Condition, now: Date): boolean {
  const status = code(c);
  if (status) return ACTIVE_CLINICAL.has(status);
  const abated = parseFhirDate(c.abatementDateTime ?? c.abatementPeriod?.end ?? c.abatementPeriod?.start);
  return !abated || abated > now;
}

/** The latest date the condition is known to have been present: now if active, else abatement, else onset. */
function lastPresent(c: Condition, now: Date): Date | undefined {
  if (isActiveCondition(c, now)) return now;
  return parseFhirDate(
    c.abatementDateTime ?? c.abatementPeriod?.end ?? c.onsetDateTime ?? c.onsetPeriod?.end ?? c.onsetPeriod?.start ?? c.recordedDate,
  );
}

function evidenceOf(c: Condition, now: Date, note?: string): Evidence {
  const display = c.code?.text ?? c.code?.coding?.find((x) => x.display)?.display ?? 'Condition';
  const active = isActiveCondition(c, now);
  const ev: Evidence = {
    reference: referenceOf(c),
    display,
    value: active ? 'active' : (code(c) ?? 'resolved'),
    date: formatDate(c.onsetDateTime ?? c.onsetPeriod?.start ?? c.recordedDate),
  };
  const notes = [c.abatementDateTime ? `abated ${formatDate(c.abatementDateTime)}` : undefined, note].filter(Boolean);
  if (notes.length > 0) ev.note = notes.join('; ');
  return ev;
}

/**
 * Diagnoses are decided from the record: a matching Condition is presence, none is absence (unless the
 * Conditions could not be read). Refuted and entered-in-error Conditions are ignored; tentative ones and
 * codes broader than the list (e.g. "lupus erythematosus" for SLE) leave the part unknown.
 */
export function evaluateCondition(leaf: CompiledLeaf, ctx: EvalContext): PartResult {
  if (leaf.spec.kind !== 'condition' || !leaf.valueSet) throw new Error('not a condition rule');
  const spec = leaf.spec;
  const from = spec.window ? subtractDuration(ctx.now, spec.window) : undefined;
  const inScope = (c: Condition): boolean => {
    if (IGNORED_VERIFICATION.has(c.verificationStatus?.coding?.[0]?.code ?? '')) return false;
    if (spec.activeOnly && !isActiveCondition(c, ctx.now)) return false;
    if (from) {
      const last = lastPresent(c, ctx.now);
      if (!last || last < from) return false;
    }
    return true;
  };
  const found = (candidatesFor(ctx, leaf, ['Condition']) as Condition[]).filter(inScope);
  const confirmed = found.filter((c) => !TENTATIVE_VERIFICATION.has(c.verificationStatus?.coding?.[0]?.code ?? ''));
  const windowText = spec.window ? ` within ${describeDuration(spec.window)}` : '';
  if (confirmed.length > 0) {
    return part(leaf, foundOutcome(leaf), `recorded${windowText}`, confirmed.map((c) => evidenceOf(c, ctx.now)));
  }
  if (found.length > 0) {
    return part(leaf, 'unknown', 'recorded, but not confirmed', found.map((c) => evidenceOf(c, ctx.now, 'verification status: not confirmed')), [
      `a confirmed ${leaf.valueSet.title} diagnosis`,
    ]);
  }
  const unavailable = unavailableReason(ctx, ['Condition']);
  if (unavailable) return part(leaf, 'unknown', unavailable, [], [`Conditions (${leaf.valueSet.title})`]);
  if (leaf.broaderValueSet) {
    const broader = (findByValueSet(ctx, leaf.broaderValueSet, ['Condition']) as Condition[]).filter(
      (c) => passesFilters(leaf, c) && inScope(c),
    );
    if (broader.length > 0) {
      return part(
        leaf,
        'unknown',
        `only a broader diagnosis is recorded (${leaf.broaderValueSet.title})`,
        broader.map((c) => evidenceOf(c, ctx.now, 'code is broader than the criterion')),
        [`a specific ${leaf.valueSet.title} diagnosis`],
      );
    }
  }
  const outcome = noDataOutcome(leaf, 'not-met');
  return part(leaf, outcome, `no ${leaf.valueSet.title} recorded${windowText}`, [], outcome === 'not-met' ? undefined : [`${leaf.valueSet.title}`]);
}
