import { describe, expect, it } from 'vitest';
import { combine, needsReview } from '../../src/engine/evaluate-rule.js';
import type { CompiledGroup } from '../../src/engine/compiled.js';
import type { Outcome } from '../../src/engine/types.js';

const group = (kind: CompiledGroup['kind'], n = 1): CompiledGroup => ({ kind, id: 'g', label: 'g', n, of: [] });

describe('three-valued combination', () => {
  it.each<[CompiledGroup['kind'], Outcome[], Outcome]>([
    ['any', ['not-met', 'unknown'], 'unknown'],
    ['any', ['not-met', 'met'], 'met'],
    ['any', ['not-met', 'not-met'], 'not-met'],
    ['any', ['not-met', 'review'], 'review'],
    ['any', ['unknown', 'review'], 'unknown'],
    ['all', ['met', 'unknown'], 'unknown'],
    ['all', ['met', 'not-met', 'unknown'], 'not-met'],
    ['all', ['met', 'met'], 'met'],
    ['all', ['met', 'review'], 'review'],
    ['all', ['unknown', 'review'], 'unknown'],
    ['not', ['met'], 'not-met'],
    ['not', ['not-met'], 'met'],
    ['not', ['unknown'], 'unknown'],
  ])('%s(%j) is %s', (kind, outcomes, expected) => {
    expect(combine(group(kind), outcomes)).toBe(expected);
  });

  it.each<[number, Outcome[], Outcome]>([
    [3, ['met', 'met', 'met', 'not-met'], 'met'],
    [3, ['met', 'met', 'not-met', 'not-met'], 'not-met'],
    [3, ['met', 'met', 'unknown', 'not-met'], 'unknown'],
    [3, ['met', 'met', 'review', 'not-met'], 'review'],
  ])('at least %i of %j is %s', (n, outcomes, expected) => {
    expect(combine(group('atLeast', n), outcomes)).toBe(expected);
  });

  it('never lets a review part decide: an exclusion "positive test and (screening) confirmation" is not met', () => {
    expect(combine(group('all'), ['met', 'review'])).not.toBe('met');
  });

  it('flags review only where the outcome still waits on it', () => {
    const leaf = (outcome: Outcome) => ({ id: 'x', label: 'x', kind: 'k', outcome, reason: '', evidence: [] });
    expect(needsReview({ ...leaf('met'), kind: 'any', parts: [leaf('met'), leaf('review')] })).toBe(false);
    expect(needsReview({ ...leaf('review'), kind: 'all', parts: [leaf('met'), leaf('review')] })).toBe(true);
  });
});
