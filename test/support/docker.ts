/**
 * The Docker tests' access to the engine (test/docker/, issue #22): the `docker` and `docker-compose` clients
 * run as child processes, never through a shell. Under CI (CI=true) a missing engine or client fails the run;
 * elsewhere the tests are skipped with the reason.
 */
import { spawn, spawnSync } from 'node:child_process';
import { EXTENSION_KEY } from '../../src/cds/render-cards.js';
import { ROOT } from './app.js';

/** The image the tests build from the repository's Dockerfile. */
export const TEST_IMAGE = 'trialmatch-cds:docker-test';
/** docker-compose.yml's project (Debian's docker-compose 1.29 has no top-level `name:`: given with -p). */
export const COMPOSE_PROJECT = 'trialmatch-cds';

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Why the Docker tests cannot run here, or '' when they can; throws under CI=true instead of answering. */
export function dockerUnavailable(): string {
  const missing: string[] = [];
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 });
  if (info.status !== 0) missing.push(`no Docker engine answers (${(info.stderr || String(info.error ?? '')).trim().slice(0, 300)}; bash .ci/setup-docker.sh)`);
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status !== 0) missing.push('no docker-compose (bash .ci/setup-docker.sh)');
  const reason = missing.join('; ');
  if (reason && process.env.CI === 'true') throw new Error(`CI=true but the Docker tests cannot run: ${reason}`);
  return reason;
}

/** Runs a command to its end (or kills it after timeoutMs); never throws on a non-zero exit. */
export function run(cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Runs a command and returns its stdout; throws with its output when it fails. */
export async function must(cmd: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${(r.stderr + r.stdout).slice(-3000)}`);
  return r.stdout;
}

export const docker = (args: readonly string[], timeoutMs?: number): Promise<string> => must('docker', args, timeoutMs);
export const compose = (args: readonly string[], timeoutMs?: number): Promise<string> =>
  must('docker-compose', ['-p', COMPOSE_PROJECT, '-f', 'docker-compose.yml', ...args], timeoutMs);

/** Polls fn until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${Math.round(timeoutMs / 1000)} s${last ? ` (${last})` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** True when something accepts connections on 127.0.0.1:port. */
export async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return true;
  } catch {
    return false;
  }
}

/** What a clinician sees of the cards, without the per-response uuids (as test/integration/hapi-support.ts). */
export function cardView(cards: any[]): { trial: string; status: string; summary: string; detail: string }[] {
  return cards.map((c) => ({ trial: c.source.topic.code, status: c.extension[EXTENSION_KEY].status, summary: c.summary, detail: c.detail }));
}
