import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/app.js';
import { describeDateRange, parseFhirDate, parseFhirDateRange, placeDateRange, type FhirDateRange } from '../../src/engine/dates.js';

const day = (iso: string): string => `${iso}T00:00:00.000Z`;

function range(value: string): FhirDateRange {
  const r = parseFhirDateRange(value);
  if (!r) throw new Error(`${value} did not parse`);
  return r;
}

describe('FHIR dates read with their precision (issue #18)', () => {
  it('a year is every day from 1 January to 31 December', () => {
    const r = range('2007');
    expect([r.start.toISOString(), r.end.toISOString(), r.precision, r.text]).toEqual([day('2007-01-01'), day('2007-12-31'), 'year', '2007']);
  });

  it.each([
    ['2024-02', '2024-02-29'],
    ['2023-02', '2023-02-28'],
    ['2000-02', '2000-02-29'],
    ['2100-02', '2100-02-28'],
    ['2026-04', '2026-04-30'],
    ['2026-12', '2026-12-31'],
    ['2026-01', '2026-01-31'],
  ])('the month %s ends on %s (leap years by the Gregorian rule)', (value, last) => {
    const r = range(value);
    expect(r.precision).toBe('month');
    expect(r.start.toISOString()).toBe(day(`${value}-01`));
    expect(r.end.toISOString()).toBe(day(last));
  });

  it('a full date is one day, read at 00:00 UTC as before', () => {
    const r = range('2024-02-29');
    expect([r.start.toISOString(), r.end.toISOString(), r.precision]).toEqual([day('2024-02-29'), day('2024-02-29'), 'day']);
  });

  it.each(['2026-02-30', '2023-02-29', '2026-13', '2026-00', '2026-04-31', '20x6', 'soon'])('%s is no date, never rolled into the next month', (value) => {
    expect(parseFhirDateRange(value)).toBeUndefined();
    expect(parseFhirDate(value)).toBeUndefined();
  });

  it('a dateTime is the instant its offset gives, whatever the server time zone', () => {
    expect(range('2026-11-22T23:30:00-05:00').start.toISOString()).toBe('2026-11-23T04:30:00.000Z');
    expect(range('2026-11-23T01:30:00+14:00').start.toISOString()).toBe('2026-11-22T11:30:00.000Z');
    expect(range('2026-11-22T23:30:00.123Z').start.toISOString()).toBe('2026-11-22T23:30:00.123Z');
    const r = range('2026-11-22T23:30:00-05:00');
    expect([r.precision, r.text, r.end.getTime() === r.start.getTime()]).toEqual(['instant', '2026-11-22', true]);
  });

  it('a dateTime sent without an offset (invalid FHIR) is read as UTC, not as local time', () => {
    expect(range('2026-11-22T10:00:00').start.toISOString()).toBe('2026-11-22T10:00:00.000Z');
  });

  it('parseFhirDate keeps the first possible day, for callers that need one point', () => {
    expect(parseFhirDate('2007')?.toISOString()).toBe(day('2007-01-01'));
    expect(parseFhirDate('2024-02')?.toISOString()).toBe(day('2024-02-01'));
  });

  it('says how precise a date is', () => {
    expect(describeDateRange(range('2007'))).toBe('2007 (year only)');
    expect(describeDateRange(range('2026-10'))).toBe('2026-10 (month only)');
    expect(describeDateRange(range('2026-10-05'))).toBe('2026-10-05');
  });
});

describe('placing a date against a window [from, until]', () => {
  const from = new Date('2026-09-24T09:00:00Z');
  const until = new Date('2026-11-24T09:00:00Z');

  it.each([
    ['2026-10', 'in'],
    ['2026-09', 'straddles'],
    ['2026-08', 'before'],
    ['2026', 'straddles'],
    ['2025', 'before'],
    ['2026-11', 'in'],
    ['2026-12', 'after'],
    ['2026-09-24', 'before'],
    ['2026-09-25', 'in'],
    ['2026-09-24T09:00:00Z', 'in'],
    ['2026-09-24T08:59:59Z', 'before'],
    ['2026-09-24T04:30:00-05:00', 'in'],
  ] as const)('%s is %s', (value, expected) => {
    expect(placeDateRange(range(value), from, until)).toBe(expected);
  });
});

/** The browser module the demo and the SMART app share (plain JavaScript, typed by its JSDoc). */
const { ageText } = (await import(pathToFileURL(resolve(ROOT, 'public', 'fhir.js')).href)) as { ageText: (birthDate: unknown, now: Date) => string };

describe('the demo and the SMART app say the age as the service reads it', () => {
  const now = new Date('2026-11-23T09:00:00Z');
  it.each([
    ['2014-10-14', '12 years'],
    ['2007', '18 or 19 years'],
    ['2007-11', '18 or 19 years'],
    ['2008-02', '18 years'],
    ['2025-11-23', '1 year'],
    [undefined, 'age unknown'],
  ])('born %s: %s', (birthDate, text) => {
    expect(ageText(birthDate, now)).toBe(text);
  });
});
