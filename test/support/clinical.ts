import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import type { TrialEvaluation } from '../../src/engine/types.js';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { ROOT } from './app.js';
import { hookRequest, patientIdOf, prefetchFor } from './hook-request.js';
import { hookTrace, tracesOfCards } from './hook-trace.js';

/** The five trials, by the ids their cards carry. */
export const TRIAL = {
  blinatumomab: 'nct06789107-blinatumomab',
  bcma: 'nct06934447-bcma-cd70-car-t',
  cd19: 'zju-cd19-car-t-csle',
  bite: 'nct07352332-bite-immune-profiling',
  belimumab: 'nct04893161-belimumab-response',
} as const;

/** A test record: a FHIR Bundle in test/clinical/records/. */
export function clinicalRecord(name: string): Bundle {
  return JSON.parse(readFileSync(resolve(ROOT, 'test', 'clinical', 'records', `${name}.json`), 'utf8')) as Bundle;
}

export interface CardEvidence {
  reference: string;
  display?: string;
  value?: unknown;
  unit?: string;
  date?: string;
  note?: string;
}

export interface CardCriterion {
  id: string;
  type?: 'inclusion' | 'exclusion';
  result: 'met' | 'not-met' | 'unknown';
  review: boolean;
  evidence?: CardEvidence[];
  missing?: string[];
}

export interface Eligibility {
  trialId: string;
  status: string;
  criteria: CardCriterion[];
}

export interface HookCard {
  summary: string;
  detail: string;
  source: { topic: { code: string } };
  extension: Record<string, { trialId: string; status: string; criteria: { id: string; result: string; review?: true }[] }>;
  /** The trial's full trace behind this card (test/support/hook-trace.ts): the card itself carries no evidence. */
  trace: Eligibility;
}

/**
 * Every trial's full evaluation of one patient's Bundle through the app's POST /trials/$evaluate; expects a
 * 200. The trace type defaults to the engine's; a test may read it through a narrower type of its own.
 */
export async function evaluateOverHttp<T = TrialEvaluation>(app: FastifyInstance, bundle: Bundle): Promise<T[]> {
  const res = await app.inject({ method: 'POST', url: '/trials/$evaluate', payload: bundle as unknown as Record<string, unknown> });
  expect(res.statusCode).toBe(200);
  return res.json<{ trials: T[] }>().trials;
}

/**
 * Fires the patient-view hook with the bundle as full prefetch (or `prefetch` when given); expects a 200.
 * Each card comes with its trial's trace (evidence, missing data) from the same request, checked to agree with
 * the card's own results.
 */
export async function fireHook(app: FastifyInstance, bundle: Bundle, prefetch: Record<string, unknown> = prefetchFor(bundle)): Promise<HookCard[]> {
  const payload = hookRequest(patientIdOf(bundle), { prefetch });
  const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload });
  expect(res.statusCode).toBe(200);
  const cards = res.json<{ cards: Omit<HookCard, 'trace'>[] }>().cards;
  const traces = tracesOfCards(cards, (await hookTrace(app, payload)).evaluations);
  return cards.map((card, i) => {
    const t = traces[i]!;
    const trace: Eligibility = {
      trialId: t.trialId,
      status: t.status,
      criteria: t.criteria.map((c) => ({
        id: c.id,
        type: c.type,
        result: c.result,
        review: c.review,
        ...(c.evidence.length > 0 ? { evidence: c.evidence } : {}),
        ...(c.missing.length > 0 ? { missing: c.missing } : {}),
      })),
    };
    return { ...card, trace };
  });
}

/** The eligibility trace of each card: status and every criterion with its evidence. */
export function eligibilities(cards: readonly HookCard[]): Eligibility[] {
  return cards.map((c) => c.trace);
}

/** One criterion on a trial's card; fails with the trials that did get a card when that trial has none. */
export function criterionOn(cards: readonly HookCard[], trialId: string, id: string): CardCriterion {
  const shown = eligibilities(cards);
  const card = shown.find((e) => e.trialId === trialId);
  if (!card) throw new Error(`no card for ${trialId}: the trial was hidden (cards: ${shown.map((e) => e.trialId).join(', ') || 'none'})`);
  const c = card.criteria.find((x) => x.id === id);
  if (!c) throw new Error(`${trialId} has no criterion ${id}`);
  return c;
}
