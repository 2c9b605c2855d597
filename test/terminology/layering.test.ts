import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/app.js';

/**
 * Issue 17 item 8: the terminology code lives below engine/ and mappings/ and imports neither (before, its
 * value-set module imported the mapping schema, which closed a circle through engine/).
 */
describe('src/terminology/', () => {
  it('imports nothing from engine/, mappings/ or any layer above them', () => {
    const dir = join(ROOT, 'src', 'terminology');
    const offending: string[] = [];
    for (const f of readdirSync(dir, { recursive: true }) as string[]) {
      if (!f.endsWith('.ts')) continue;
      const text = readFileSync(join(dir, f), 'utf8');
      for (const m of text.matchAll(/from\s+'(\.\.\/[^']+)'/g)) {
        if (/^(\.\.\/)+(engine|mappings|cds|http|data|patient|store|security|observability)\//.test(m[1]!)) offending.push(`${f}: ${m[1]}`);
      }
    }
    expect(offending).toEqual([]);
  });
});
