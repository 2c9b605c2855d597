/** FHIR date arithmetic for look-back windows. Pure: "now" is always an argument. */

const DAY_MS = 86_400_000;

/**
 * Parses a FHIR date, dateTime or instant. Partial dates ("2024", "2024-05") are taken at their first day,
 * which is the reading that keeps a record inside a window rather than silently dropping it.
 */
export function parseFhirDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  // A fresh Date per call: no cache shared across requests hands one mutable Date to every caller (issue #13).
  // The partial forms are read by hand, which costs less than a regular expression on this hot path.
  const n = value.length;
  if (n === 4 || (n === 7 && value.charCodeAt(4) === DASH) || (n === 10 && value.charCodeAt(4) === DASH && value.charCodeAt(7) === DASH)) {
    const year = digits(value, 0, 4);
    const month = n >= 7 ? digits(value, 5, 7) : 1;
    const day = n === 10 ? digits(value, 8, 10) : 1;
    if (year >= 0 && month >= 0 && day >= 0) return new Date(Date.UTC(year, month - 1, day));
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t);
}

const DASH = 45;

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
