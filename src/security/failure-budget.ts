/**
 * A cheap refusal path for floods of bad tokens (issue #12 item 2: forged-signature floods were verified one
 * by one, an asymmetric verification each). Every refused token counts against its client address for a
 * fixed window; past the budget the address is answered 429 before its token is even decoded, until the
 * window ends. Memory is bounded: at most `maxKeys` addresses are tracked, the oldest window dropped first.
 */
export class FailureBudget {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly perWindow: number,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether this key has used its budget in the current window. */
  exhausted(key: string): boolean {
    const w = this.windows.get(key);
    if (!w) return false;
    if (this.now() - w.start >= this.windowMs) {
      this.windows.delete(key);
      return false;
    }
    return w.failures >= this.perWindow;
  }

  /** Counts one refused token for this key. */
  fail(key: string): void {
    const t = this.now();
    const w = this.windows.get(key);
    if (w && t - w.start < this.windowMs) {
      w.failures++;
      return;
    }
    if (w) this.windows.delete(key);
    if (this.windows.size >= this.maxKeys) {
      // Maps iterate in insertion order: the first key holds the oldest window.
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
    this.windows.set(key, { start: t, failures: 1 });
  }

  get size(): number {
    return this.windows.size;
  }
}
