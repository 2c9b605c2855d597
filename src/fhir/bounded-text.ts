/**
 * Caps on the strings the evaluator reads from a patient's record before any parsing (issue #12 item 2: a
 * 135 KiB valueString or a 64 KB unit reached regular expressions and the UCUM parser, and one request
 * stalled the event loop). Text longer than its cap is not what the field holds in a real record, so the
 * reader treats it as unreadable (unknown), never as a finding. Every reader takes its cap from here.
 */
export const TEXT_LIMITS = {
  /** A unit ("mL/min/{1.73_m2}", "10*9/L"): UCUM codes in real records are under 30 characters. */
  unit: 64,
  /** A value written as a string ("< 1.3 log IU/mL", "1:320", "Not detected, see comment"). */
  valueString: 4096,
  /** A display or concept text read for words ("Systemic lupus erythematosus", a local code's display). */
  display: 1024,
} as const;

/** The text if it is within `max` characters, else undefined (too long to be what the field holds). */
export function boundedText(text: string | undefined, max: number): string | undefined {
  return typeof text === 'string' && text.length <= max ? text : undefined;
}
