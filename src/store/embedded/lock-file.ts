import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/** This process's identity in a lock (a constant): tells "opened twice here" from "a previous process". */
const PROCESS_TOKEN = randomUUID();
/** The owner touches its lock this often; a lock untouched for STALE_MS is an owner that is gone. */
const HEARTBEAT_MS = 10_000;
const STALE_MS = 30_000;

interface LockOwner {
  pid: number;
  host: string;
  token: string;
}

/**
 * One process per journal (issue #12 item 3): two processes appending to and compacting one file erase each
 * other's acknowledged feedback. The lock is a file created exclusively (O_EXCL) naming its owner (pid, host
 * name, a per-process token) and touched every 10 s. An existing lock is stale, and taken over, when its owner
 * is gone: on this host, its pid is not running (kill -9) or is our own pid in an earlier life (a container
 * restarted with the same pid); from another host or container (pids mean nothing there), when it has not
 * been touched for 30 s.
 */
export class LockFile {
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(readonly path: string) {}

  static acquire(path: string): LockFile {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        const owner: LockOwner = { pid: process.pid, host: hostname(), token: PROCESS_TOKEN };
        writeSync(fd, `${JSON.stringify(owner)}\n`);
        closeSync(fd);
        const lock = new LockFile(path);
        lock.heartbeat = setInterval(() => lock.touch(), HEARTBEAT_MS);
        lock.heartbeat.unref();
        return lock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const refusal = refusalFor(path);
        if (refusal) throw new Error(refusal);
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
    if (!this.heartbeat) return;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone: nothing to release.
    }
  }

  private touch(): void {
    try {
      const now = new Date();
      utimesSync(this.path, now, now);
    } catch {
      // Removed by hand: the next start decides; this process keeps its open journal.
    }
  }
}

/** Why the existing lock at `path` is not ours to take, or undefined when it is stale. */
function refusalFor(path: string): string | undefined {
  const owner = readOwner(path);
  const fresh = ageMs(path) < STALE_MS;
  const held = `${path} is held by process ${owner?.pid ?? '?'}${owner && owner.host !== hostname() ? ` on ${owner.host}` : ''}: another TrialMatch process uses this journal. Run one process per journal, or set DATABASE_URL so several replicas share PostgreSQL (docs/deployment.md).`;
  if (!owner) return fresh ? held : undefined;
  if (owner.token === PROCESS_TOKEN) return `${path} is already held by this process: the journal is opened twice`;
  if (owner.host === hostname()) {
    if (owner.pid === process.pid) return undefined;
    return isRunning(owner.pid) ? held : undefined;
  }
  return fresh ? held : undefined;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string' ? { pid: o.pid, host: o.host, token: o.token } : undefined;
  } catch {
    return undefined;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return Infinity;
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
