/**
 * CDS Hooks 2.0 §Trusting CDS Clients: `jti` is a nonce, and a token seen before is refused. Remembers each
 * iss+jti until its `exp` (plus leeway), and no more than `capacity` at once; when it is full of unexpired
 * tokens it refuses new ones rather than forget one that could then be replayed (fail closed).
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.seen.size;
  }

  /** Seen and still live. */
  has(issuer: string, jti: string, nowMs: number): boolean {
    const until = this.seen.get(`${issuer}\u0000${jti}`);
    return until !== undefined && until > nowMs;
  }

  /** 'fresh' (now remembered), 'replayed' (seen and still live) or 'full' (no room: refuse). */
  check(issuer: string, jti: string, expiresAtMs: number, nowMs: number): 'fresh' | 'replayed' | 'full' {
    const key = `${issuer}\u0000${jti}`;
    const until = this.seen.get(key);
    if (until !== undefined && until > nowMs) return 'replayed';
    if (this.seen.size >= this.capacity) this.sweep(nowMs);
    if (this.seen.size >= this.capacity) return 'full';
    this.seen.set(key, expiresAtMs);
    return 'fresh';
  }

  /** Forgets the expired entries. */
  sweep(nowMs: number): void {
    for (const [key, until] of this.seen) if (until <= nowMs) this.seen.delete(key);
  }
}
