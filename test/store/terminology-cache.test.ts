import { describe, expect, it } from 'vitest';
import { EmbeddedTerminologyCache } from '../../src/store/embedded/terminology-cache.js';

describe('the embedded terminology answer cache', () => {
  it('answers until the expiry, then forgets', async () => {
    const cache = new EmbeddedTerminologyCache(10);
    await cache.put([{ key: 'a', value: '1', expiresAt: new Date('2026-11-23T11:00:00Z') }]);
    expect([...(await cache.get(['a', 'b'], new Date('2026-11-23T10:00:00Z')))]).toEqual([['a', '1']]);
    expect((await cache.get(['a'], new Date('2026-11-23T11:00:00Z'))).size).toBe(0);
  });

  it('holds at most its capacity, forgetting the oldest written first', async () => {
    const cache = new EmbeddedTerminologyCache(2);
    const expiresAt = new Date('2026-11-24T00:00:00Z');
    await cache.put([{ key: 'a', value: '1', expiresAt }, { key: 'b', value: '2', expiresAt }]);
    await cache.put([{ key: 'a', value: '3', expiresAt }, { key: 'c', value: '4', expiresAt }]);
    expect([...(await cache.get(['a', 'b', 'c'], new Date('2026-11-23T00:00:00Z')))]).toEqual([['a', '3'], ['c', '4']]);
  });
});
