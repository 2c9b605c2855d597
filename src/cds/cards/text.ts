import type { Evidence } from '../../engine/types.js';

/** UCUM codes as a clinician writes them; annotations such as {score} carry no meaning on a card. */
const UNIT_WORDS: Record<string, string> = {
  '10*3/uL': '× 10³/µL',
  '10*9/L': '× 10⁹/L',
  '10*12/L': '× 10¹²/L',
  '/uL': '/µL',
  '[IU]/mL': 'IU/mL',
  'mL/min/{1.73_m2}': 'mL/min/1.73 m²',
  'g/(24.h)': 'g/24 h',
  'mg/(24.h)': 'mg/24 h',
};

export function unitText(unit: string): string {
  return (UNIT_WORDS[unit] ?? unit.replace(/\{[^}]*\}/g, '').replace(/\[([^\]]+)\]/g, '$1').replace(/\bu(?=[LgmM]\b)/g, 'µ')).trim();
}

/** A date-time as its date: the card says what day, not what second. */
export function dateText(date: string): string {
  return /^\d{4}-\d{2}-\d{2}T/.test(date) ? date.slice(0, 10) : date;
}

function valueText(e: Evidence): string {
  if (e.value === undefined) return '';
  // A unit on a text value ("1:640" titre, "positive") says nothing the value does not.
  const unit = e.unit && typeof e.value === 'number' ? unitText(e.unit) : '';
  if (!unit) return String(e.value);
  return unit === '%' ? `${e.value}%` : `${e.value} ${unit}`;
}

/** Statuses the engine puts in `value` for medications and conditions, which read with their start date. */
const ONGOING = new Set(['current', 'active']);

/**
 * One fact as a clinician reads it, with its value and date ("SLEDAI-2K total score 12 (2026-11-13)",
 * "predniSONE 5 MG Oral Tablet, current since 2026-08-25"). How the engine read it (the evidence `note`:
 * matched by name, a default limit) is for the app, not the card; only a patient's birth date is said,
 * because an age is read from it.
 */
export function factText(e: Evidence): string {
  const value = valueText(e);
  const ongoing = typeof e.value === 'string' && ONGOING.has(e.value);
  let text = e.display;
  if (value) text += ongoing ? `, ${value}` : ` ${value}`;
  if (e.date) text += ongoing ? ` since ${dateText(e.date)}` : ` (${dateText(e.date)})`;
  else if (e.reference.startsWith('Patient/') && e.note?.startsWith('born ')) text += ` (${e.note})`;
  return text;
}

const MARKDOWN_SPECIAL = /[\\*_`[\]<>|#]/;
const MARKDOWN_SPECIALS = new RegExp(MARKDOWN_SPECIAL.source, 'g');

/** Text from the record or the mappings, escaped so the EHR renders it as text (CDS Hooks detail is markdown). */
export function escapeMd(s: string): string {
  return MARKDOWN_SPECIAL.test(s) ? s.replace(MARKDOWN_SPECIALS, '\\$&') : s;
}

/** Cut at a word boundary with an ellipsis, for a fixed-length field. */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1).replace(/[\s,;:]+\S*$/, '')}…`;
}

/** "a", "a and b", "a, b and c". */
export function listText(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
