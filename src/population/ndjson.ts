import { createReadStream } from 'node:fs';

/** Read size: large enough that a file streams at disk speed, small enough to stay far from the memory bound. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * The lines of an NDJSON file (FHIR Bulk Data 2.0 §Output: "each line holds one FHIR resource"), streamed:
 * only one chunk and the line it ends inside are ever in memory, never the whole file. Blank lines (a
 * trailing newline, a CRLF file's `\r`) are skipped. The text is decoded as UTF-8 across chunk boundaries by
 * the stream's own decoder.
 */
export async function* ndjsonLines(file: string): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: CHUNK_BYTES })) {
    const text = rest + (chunk as string);
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      const line = trimLine(text, start, end);
      if (line) yield line;
      start = end + 1;
    }
    rest = text.slice(start);
  }
  const last = trimLine(rest, 0, rest.length);
  if (last) yield last;
}

/** One line without the `\r` of a CRLF file and without surrounding blanks; '' when blank. */
function trimLine(text: string, start: number, end: number): string {
  if (end > start && text.charCodeAt(end - 1) === 13) end--;
  const line = text.slice(start, end);
  const first = line.charCodeAt(0);
  // A resource line starts with '{'; anything else is trimmed (and, when blank, skipped).
  return first === 123 ? line : line.trim();
}
