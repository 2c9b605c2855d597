import type { TerminologyCache } from '../shared-state.js';

/**
 * The terminology server's answers in this process's memory (no DATABASE_URL): at most `capacity`, the
 * oldest written forgotten first. Not journaled: an answer lost with a restart is asked again.
 */
export class EmbeddedTerminologyCache implements TerminologyCache {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(private readonly capacity: number) {}

  async get(keys: readonly string[], now: Date): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const key of keys) {
      const e = this.entries.get(key);
      if (!e) continue;
      if (e.expiresAt > now.getTime()) out.set(key, e.value);
      else this.entries.delete(key);
    }
    return out;
  }

  async put(entries: readonly { key: string; value: string; expiresAt: Date }[]): Promise<void> {
    for (const { key, value, expiresAt } of entries) {
      // Re-inserted at the end: Map keeps insertion order, so the first key is the oldest written.
      this.entries.delete(key);
      this.entries.set(key, { value, expiresAt: expiresAt.getTime() });
      if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    }
  }
}
