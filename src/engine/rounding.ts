/**
 * How the engine rounds numbers it shows (evidence values and notes), in one place: the two readings differ
 * on purpose and each is named for what it keeps.
 */

/** Six significant digits: a converted lab value or threshold keeps its precision, not floating-point noise. */
export function toSignificant(n: number): number {
  return Number(n.toPrecision(6));
}

/** Two decimals: a dose in mg, mg/kg/day or kg, as a clinician writes it. */
export function toHundredths(n: number): number {
  return Math.round(n * 100) / 100;
}
