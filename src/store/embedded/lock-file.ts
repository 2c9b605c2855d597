import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';

/**
 * One process per journal (issue #12 item 3): two processes appending to and compacting one file erase each
 * other's acknowledged feedback. The lock is a file created exclusively (O_EXCL) holding the owner's pid; a
 * lock whose pid is no longer running is stale (the owner was killed) and is taken over.
 */
export class LockFile {
  private held = false;

  private constructor(readonly path: string) {}

  static acquire(path: string): LockFile {
    const lock = new LockFile(path);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        lock.held = true;
        return lock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number.parseInt(safeRead(path), 10);
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isRunning(owner)) {
          throw new Error(
            `${path} is held by process ${owner}: another TrialMatch process uses this journal. Run one process per journal, ` +
              'or set DATABASE_URL so several replicas share PostgreSQL (docs/deployment.md).',
          );
        }
        if (owner === process.pid) {
          throw new Error(`${path} is already held by this process: the journal is opened twice`);
        }
        // Stale: its owner is gone (kill -9, power cut). Remove it and try once more.
        try {
          unlinkSync(path);
        } catch {
          // Another process removed it first; the next attempt decides.
        }
      }
    }
    throw new Error(`${path}: could not take the journal lock`);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else, so it is running.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
