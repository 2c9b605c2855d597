import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/store/embedded/journal.js';

const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-journal-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Opens a journal file, collecting every entry start-up reads; `valid` says which it accepts. */
async function read(name: string, text: string, valid: (e: unknown) => boolean = () => true): Promise<{ entries: unknown[]; stats: Awaited<ReturnType<typeof Journal.open>>['stats'] }> {
  const file = resolve(dir, name);
  writeFileSync(file, text);
  const entries: unknown[] = [];
  const { journal, stats } = await Journal.open(file, (e) => {
    entries.push(e);
    return valid(e);
  });
  journal.close();
  return { entries, stats };
}

describe('reading a journal back at start', () => {
  it('reads lines across its read chunks whole, multi-byte characters included, CRLF or LF, the last line without a newline', async () => {
    // Lines of ~3,000 bytes with a 3-byte character near the end, past several 1 MiB chunks.
    const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ i, text: `${'x'.repeat(2990 + (i % 7))}€é` }));
    const text = lines.map((l, i) => `${l}${i % 2 === 0 ? '\r\n' : '\n'}`).join('') + JSON.stringify({ i: 1000, text: 'last' });
    const { entries, stats } = await read('chunks.jsonl', text);
    expect(entries).toHaveLength(1001);
    expect(entries.slice(0, 1000)).toEqual(lines.map((l) => JSON.parse(l) as unknown));
    expect(entries[1000]).toEqual({ i: 1000, text: 'last' });
    expect(stats).toEqual({ lines: 1001, skippedLines: 0, skippedLineNumbers: [] });
  });

  it('skips a line that is not JSON or not an entry, and names it by its line number in the file, blank lines counted', async () => {
    const text = ['{"ok":1}', '', 'not json', '{"ok":2}', '   ', '{"ok":false}', '{"ok":3}', '{"ok'].join('\n');
    const { stats } = await read('skipped.jsonl', text, (e) => (e as { ok?: unknown }).ok !== false);
    expect(stats).toEqual({ lines: 3, skippedLines: 3, skippedLineNumbers: [3, 6, 8] });
  });

  it('names the first ten skipped lines and counts them all', async () => {
    const text = Array.from({ length: 25 }, (_, i) => (i % 2 === 0 ? 'bad' : '{}')).join('\n');
    const { stats } = await read('many.jsonl', text);
    expect(stats).toEqual({ lines: 12, skippedLines: 13, skippedLineNumbers: [1, 3, 5, 7, 9, 11, 13, 15, 17, 19] });
  });
});
