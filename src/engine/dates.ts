/** FHIR date arithmetic for look-back windows. Pure: "now" is always an argument. */

const DAY_MS = 86_400_000;

/**
 * How precisely a FHIR date was recorded (FHIR R4 §2.24.0.1 date / dateTime: "2007", "2007-06",
 * "2007-06-14", or a time with its offset). A year or a year-month is a range of days, not its first day.
 */
export type DatePrecision = 'year' | 'month' | 'day' | 'instant';

/**
 * A FHIR date read with its precision: the first and the last day it may stand for. A full date is one day,
 * read at 00:00 UTC as it always was; a dateTime or instant is that instant. A year or a month is every day
 * in it, and a question the range straddles (an age bound, a window's edge) has no answer from the record.
 */
export interface FhirDateRange {
  /** The earliest day it may mean (00:00 UTC), or the instant. */
  start: Date;
  /** The latest day it may mean (00:00 UTC, like a full date); the same as start for a day or an instant. */
  end: Date;
  precision: DatePrecision;
  /** As recorded, shortened to the day ("2007", "2007-06", "2007-06-14"), for the card. */
  text: string;
}

/** Whether the date was recorded as a year or a year-month only. */
export function isPartialDate(r: FhirDateRange): boolean {
  return r.precision === 'year' || r.precision === 'month';
}

/**
 * Parses a FHIR date, dateTime or instant into the days it may stand for (see FhirDateRange). A calendar
 * date that does not exist ("2026-02-30", month 13) is no date: it is never rolled into the next month. A
 * dateTime written without an offset (invalid in FHIR, yet sent) is read as UTC, never as this server's
 * local time, so the same record reads the same everywhere.
 */
export function parseFhirDateRange(value: string | undefined): FhirDateRange | undefined {
  if (!value) return undefined;
  // A fresh Date per call: no cache shared across requests hands one mutable Date to every caller (issue #13).
  // The partial forms are read by hand, which costs less than a regular expression on this hot path.
  const n = value.length;
  if (n === 4 || (n === 7 && value.charCodeAt(4) === DASH) || (n === 10 && value.charCodeAt(4) === DASH && value.charCodeAt(7) === DASH)) {
    const year = digits(value, 0, 4);
    const month = n >= 7 ? digits(value, 5, 7) : 1;
    const day = n === 10 ? digits(value, 8, 10) : 1;
    if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
    const start = new Date(Date.UTC(year, month - 1, day));
    // One Date for both edges: a range is read, never changed (no allocation on this hot path).
    if (n === 10) return { start, end: start, precision: 'day', text: value };
    // The last day: of the month, or 31 December.
    const end = n === 7 ? new Date(Date.UTC(year, month - 1, daysInMonth(year, month))) : new Date(Date.UTC(year, 11, 31));
    return { start, end, precision: n === 7 ? 'month' : 'year', text: value };
  }
  const withZone = n > 10 && value.charCodeAt(10) === T && !HAS_ZONE.test(value) ? `${value}Z` : value;
  const t = Date.parse(withZone);
  if (Number.isNaN(t)) return undefined;
  const instant = new Date(t);
  return { start: instant, end: instant, precision: 'instant', text: value.slice(0, 10) };
}

/**
 * Parses a FHIR date, dateTime or instant to one point: the first day of a partial date. For callers that
 * need a point and say why; a window or an age bound reads parseFhirDateRange.
 */
export function parseFhirDate(value: string | undefined): Date | undefined {
  return parseFhirDateRange(value)?.start;
}

const DASH = 45;
const T = 84;
/** A dateTime's offset: Z or ±hh:mm at the end. */
const HAS_ZONE = /(Z|[+-]\d\d:\d\d)$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Where a recorded date stands against [from, until] (a look-back window ending now). An event in the
 * record happened at the latest `until`, so the part of a range after it is not a possibility; a range
 * that begins after it is a date in the future. `straddles`: some of its days are in the window, some
 * before it, and the record cannot say which.
 */
export function placeDateRange(r: FhirDateRange, from: Date, until: Date): 'in' | 'before' | 'straddles' | 'after' {
  if (r.start > until) return 'after';
  if (r.end < from) return 'before';
  return r.start >= from ? 'in' : 'straddles';
}

/**
 * The latest moment a recorded event may be dated: now, plus a day's grace for a date stamped later today
 * in another time zone. Later than that is a date in the future.
 */
export function latestEventTime(now: Date): Date {
  return new Date(now.getTime() + DAY_MS);
}

/** A partial date in words: "2007 (year only)", "2026-10 (month only)". */
export function describeDateRange(r: FhirDateRange): string {
  return r.precision === 'year' ? `${r.text} (year only)` : r.precision === 'month' ? `${r.text} (month only)` : r.text;
}

/** The decimal number in value[from, to), or -1 when a character is not a digit 0-9. */
function digits(value: string, from: number, to: number): number {
  let out = 0;
  for (let i = from; i < to; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    out = out * 10 + d;
  }
  return out;
}

/** Subtracts an ISO 8601 duration (P60D, P4W, P3M, P1Y) from a date, by calendar for months and years. */
export function subtractDuration(from: Date, duration: string): Date {
  return shift(from, duration, -1);
}

export function addDuration(from: Date, duration: string): Date {
  return shift(from, duration, 1);
}

function shift(from: Date, duration: string, sign: 1 | -1): Date {
  const m = /^P(\d+)([DWMY])$/.exec(duration);
  if (!m) throw new Error(`unsupported duration ${duration}`);
  const n = Number(m[1]) * sign;
  const d = new Date(from.getTime());
  const unit = m[2] as 'D' | 'W' | 'M' | 'Y';
  switch (unit) {
    case 'D':
      return new Date(d.getTime() + n * DAY_MS);
    case 'W':
      return new Date(d.getTime() + n * 7 * DAY_MS);
    case 'M':
      d.setUTCMonth(d.getUTCMonth() + n);
      return d;
    case 'Y':
      d.setUTCFullYear(d.getUTCFullYear() + n);
      return d;
  }
}

export function daysBetween(a: Date, b: Date): number {
  return (b.getTime() - a.getTime()) / DAY_MS;
}

/** "2026-11-02": dates as a clinician reads them. */
export function formatDate(d: Date | string | undefined): string | undefined {
  if (d === undefined) return undefined;
  if (typeof d === 'string') return d.length > 10 ? d.slice(0, 10) : d;
  // By hand rather than toISOString().slice(0, 10), which is costly on this hot path (every piece of
  // evidence); the same text for years 0-9999, and toISOString itself for anything else (or an invalid date).
  const year = d.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return d.toISOString().slice(0, 10);
  return `${String(year).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Human words for a duration: "60 days", "3 months". */
export function describeDuration(duration: string): string {
  const m = /^P(\d+)([DWMY])$/.exec(duration);
  if (!m) return duration;
  const unit = { D: 'day', W: 'week', M: 'month', Y: 'year' }[m[2] as 'D' | 'W' | 'M' | 'Y'];
  return `${m[1]} ${unit}${m[1] === '1' ? '' : 's'}`;
}

/**
 * The first day on which a look-back window of `duration` no longer reaches `last`, all day long: the
 * earliest UTC day D with D 00:00 minus the duration after `last` (a window starts at now minus the
 * duration, and a record before that start is outside). Searched day by day near last + duration, since
 * calendar months do not subtract back exactly (Nov 30 + 3 months is Mar 2, yet Mar 1 minus 3 months is
 * Dec 1, already past Nov 30).
 */
export function firstDayOutsideWindow(last: Date, duration: string): Date {
  const approx = addDuration(last, duration);
  let day = new Date(Date.UTC(approx.getUTCFullYear(), approx.getUTCMonth(), approx.getUTCDate()) - 4 * DAY_MS);
  while (subtractDuration(day, duration) <= last) day = new Date(day.getTime() + DAY_MS);
  return day;
}
