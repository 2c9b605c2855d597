import { closeSync, createReadStream, existsSync, fsync, fsyncSync, mkdirSync, openSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { LineBatch } from './line-batch.js';
import { LockFile } from './lock-file.js';

const fsyncAsync = promisify(fsync);

export interface JournalReadStats {
  lines: number;
  /** Lines that were not valid entries (a line cut short by a crash, or edited by hand): skipped. */
  skippedLines: number;
  /**
   * The first of them by line number in the file (1 for its first line), at most SKIPPED_LINES_NAMED: what an
   * operator opens the file at. A number, never the line: it may hold what a hand edit put there (house rule 8).
   */
  skippedLineNumbers: number[];
}

/** Read size at start: a journal streams at disk speed, one chunk in memory at a time. */
const READ_CHUNK_BYTES = 1024 * 1024;

/** Skipped lines named by number in the read stats (the count covers them all). */
const SKIPPED_LINES_NAMED = 10;

/**
 * An append-only JSON-lines file owned by one process (a lock file beside it). Read at start as a stream
 * (split into lines chunk by chunk: a journal of any size starts without being held as one string, issue #12),
 * appended with one write per batch, fsynced without blocking the event loop, and compacted atomically
 * (temporary file, fsync, rename, fsync the directory) once no fsync is in flight.
 */
export class Journal {
  private fd = -1;
  private pendingSyncs = 0;
  private compactionDue: (() => Iterable<object>) | undefined;
  /** Lines nobody waits for (remembered cards), written at the end of the event-loop turn (group commit). */
  private readonly later = new LineBatch((text) => writeSync(this.fd, text));

  private constructor(
    readonly file: string,
    private readonly lock: LockFile,
  ) {}

  /** Takes the lock, streams every line to `accept` (false: not a valid entry), then opens for appending. */
  static async open(file: string, accept: (entry: unknown) => boolean): Promise<{ journal: Journal; stats: JournalReadStats }> {
    mkdirSync(dirname(file), { recursive: true });
    const lock = LockFile.acquire(`${file}.lock`);
    const journal = new Journal(file, lock);
    try {
      const stats = await readLines(file, accept);
      journal.fd = openSync(file, 'a', 0o600);
      // A crash mid-write leaves a partial last line: end it, so the next entry starts on a line of its own.
      if (endsMidLine(file)) writeSync(journal.fd, '\n');
      return { journal, stats };
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** Writes entries (one write, after any queued by appendInTurn); callers that need them on disk await sync() afterwards. */
  append(entries: readonly object[]): void {
    if (this.fd < 0) throw new Error('the journal is closed');
    if (entries.length === 0) return;
    this.later.flush();
    writeSync(this.fd, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }

  /**
   * Queues entries nobody waits for (issue #21 item 5: the remembered cards of every hook answered in this
   * event-loop turn go out in one write). Not fsynced, like append() without sync(); docs/deployment.md says
   * what a crash can lose.
   */
  appendInTurn(entries: readonly object[]): void {
    if (this.fd < 0) throw new Error('the journal is closed');
    if (entries.length === 0) return;
    this.later.addUnawaited(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }

  async sync(): Promise<void> {
    if (this.fd < 0) throw new Error('the journal is closed');
    this.pendingSyncs++;
    try {
      await fsyncAsync(this.fd);
    } finally {
      this.pendingSyncs--;
      if (this.pendingSyncs === 0 && this.compactionDue) this.compact(this.compactionDue);
    }
  }

  /** Rewrites the journal as `snapshot()`, now or once the fsyncs in flight are done (they use the old fd). */
  compactWhenIdle(snapshot: () => Iterable<object>): void {
    if (this.pendingSyncs > 0) this.compactionDue = snapshot;
    else this.compact(snapshot);
  }

  close(): void {
    if (this.fd >= 0) {
      this.later.flush();
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
    }
    this.lock.release();
  }

  private compact(snapshot: () => Iterable<object>): void {
    this.compactionDue = undefined;
    if (this.fd < 0) return;
    // Queued lines go to the old file first: the snapshot holds them too, and they must not land after it.
    this.later.flush();
    const tmp = `${this.file}.compact-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      // In chunks: a large journal is not built as one string.
      let chunk: string[] = [];
      for (const entry of snapshot()) {
        chunk.push(`${JSON.stringify(entry)}\n`);
        if (chunk.length >= 10_000) {
          writeSync(fd, chunk.join(''));
          chunk = [];
        }
      }
      if (chunk.length > 0) writeSync(fd, chunk.join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    closeSync(this.fd);
    renameSync(tmp, this.file);
    syncDirectory(dirname(this.file));
    this.fd = openSync(this.file, 'a', 0o600);
  }
}

async function readLines(file: string, accept: (entry: unknown) => boolean): Promise<JournalReadStats> {
  const stats: JournalReadStats = { lines: 0, skippedLines: 0, skippedLineNumbers: [] };
  if (!existsSync(file)) return stats;
  let lineNumber = 0;
  const take = (line: string): void => {
    lineNumber++;
    if (line.trim() === '') return;
    let ok = false;
    try {
      // JSON.parse allows the blanks around a value, so a CRLF line's '\r' needs no stripping.
      ok = accept(JSON.parse(line));
    } catch {
      ok = false;
    }
    if (ok) stats.lines++;
    else if (++stats.skippedLines <= SKIPPED_LINES_NAMED) stats.skippedLineNumbers.push(lineNumber);
  };
  // Split by hand over 1 MiB chunks rather than with readline, which was 40% of reading back a screening journal
  // of 500,000 lines (0.64 of 1.6 s); still one chunk and one line at a time in memory (issue #12). Split on the
  // bytes and each line decoded on its own (a UTF-8 sequence never holds the byte 0x0A): a line cut from a larger
  // decoded string would be a slice of it, and every string a store keeps from the line would hold the whole chunk.
  let rest: Buffer | undefined;
  for await (const read of createReadStream(file, { highWaterMark: READ_CHUNK_BYTES })) {
    const chunk = rest ? Buffer.concat([rest, read as Buffer]) : (read as Buffer);
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      take(chunk.toString('utf8', start, end));
      start = end + 1;
    }
    rest = start < chunk.length ? chunk.subarray(start) : undefined;
  }
  if (rest) take(rest.toString('utf8'));
  return stats;
}

function endsMidLine(file: string): boolean {
  const size = statSync(file).size;
  if (size === 0) return false;
  const fd = openSync(file, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } finally {
    closeSync(fd);
  }
}

function syncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
