import { ReplayCache } from '../../security/replay-cache.js';
import type { ReplayStore } from '../shared-state.js';

/**
 * The in-memory replay cache behind ReplayStore, one cache per issuer (issue #12 item 3: one issuer filling a
 * shared cache locked every other issuer out with 503s for an hour). Each issuer holds at most `issuerQuota`
 * live `jti`s, and all of them together at most `capacity`. Only verified issuers reach it, so the number of
 * caches is bounded by the trust file. One process: a restart forgets every jti (tokens live minutes); use
 * DATABASE_URL for replicas.
 */
export class EmbeddedReplayStore implements ReplayStore {
  private readonly caches = new Map<string, ReplayCache>();

  constructor(
    private readonly capacity: number,
    private readonly issuerQuota: number,
  ) {}

  async check(issuer: string, jti: string, expiresAt: Date, now: Date): Promise<'fresh' | 'replayed' | 'full'> {
    let cache = this.caches.get(issuer);
    if (!cache) {
      cache = new ReplayCache(Math.min(this.issuerQuota, this.capacity));
      this.caches.set(issuer, cache);
    }
    if (cache.has(issuer, jti, now.getTime())) return 'replayed';
    if (this.total() >= this.capacity) {
      for (const c of this.caches.values()) c.sweep(now.getTime());
      if (this.total() >= this.capacity) return 'full';
    }
    return cache.check(issuer, jti, expiresAt.getTime(), now.getTime());
  }

  async size(): Promise<number> {
    return this.total();
  }

  private total(): number {
    let n = 0;
    for (const c of this.caches.values()) n += c.size;
    return n;
  }
}
