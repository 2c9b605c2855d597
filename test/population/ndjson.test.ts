import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ndjsonLines } from '../../src/population/ndjson.js';

const dir = mkdtempSync(join(tmpdir(), 'trialmatch-ndjson-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function linesOf(text: string): Promise<string[]> {
  const file = join(dir, `f-${Math.random().toString(36).slice(2)}.ndjson`);
  writeFileSync(file, text);
  const out: string[] = [];
  for await (const line of ndjsonLines(file)) out.push(line);
  return out;
}

const MiB = 1024 * 1024;

describe('reading NDJSON lines', () => {
  it('gives lines that run over many 1 MiB reads whole, with multi-byte text and CRLF split at a read boundary', async () => {
    const long = JSON.stringify({ resourceType: 'Observation', id: 'long', valueString: `${'Łódź 日本 '.repeat(400_000)}end` }); // about 5 MiB of UTF-8
    const short = JSON.stringify({ resourceType: 'Patient', id: 'p' });
    // A line ending exactly where a read ends, its \r the read's last byte and its \n the next read's first.
    const filler = `{"resourceType":"Observation","id":"f","note":"${'y'.repeat(MiB - 50)}"}`;
    const pad = MiB - 1 - Buffer.byteLength(filler);
    const atBoundary = `${filler}${' '.repeat(pad)}`;
    expect(Buffer.byteLength(`${atBoundary}\r`)).toBe(MiB);
    const text = `${atBoundary}\r\n${long}\n\n${short}\r\n   \n${long}`;
    expect(await linesOf(text)).toEqual([atBoundary.trim(), long, short, long]);
  });

  it('gives a file of one line without a final newline, and nothing for a blank file', async () => {
    expect(await linesOf('{"resourceType":"Patient","id":"a"}')).toEqual(['{"resourceType":"Patient","id":"a"}']);
    expect(await linesOf('\n\r\n  \n')).toEqual([]);
  });
});
