/**
 * Group commit for the embedded store's append-only files (issue #21 item 5): every line added during one turn
 * of the event loop goes out in one synchronous write(2) at the turn's end (setImmediate), so hooks answered
 * together share a write, and no write goes through libuv's thread pool (FileHandle.write cost each hook a
 * thread hand-off: the futex calls per request rose from 3.2 to 8.1). A line is in the file before the
 * promise add() gave resolves; what a process killed in between loses is said in docs/deployment.md.
 */
export class LineBatch {
  private lines: string[] = [];
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly write: (text: string) => void) {}

  /** Queues a line (ending in a newline); resolves once it is written, rejects if the write failed. */
  add(line: string): Promise<void> {
    this.lines.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Queues a line whose writing nobody waits for (a failure is left to the next flush's callers). */
  addUnawaited(line: string): void {
    this.add(line).catch(() => undefined);
  }

  /** Writes what is queued now (before a close, a compaction, or a write that must come after it). */
  flush(): void {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.join('');
    const waiting = this.waiting;
    this.lines = [];
    this.waiting = [];
    try {
      this.write(text);
    } catch (err) {
      for (const w of waiting) w.reject(err);
      return;
    }
    for (const w of waiting) w.resolve();
  }
}
