/** Starting the HTTP targets in child processes and driving them with autocannon. */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';

export const SERVICE_PATH = '/cds-services/trialmatch-sle';

export interface TargetStats {
  rss: number;
  heapUsed: number;
  cpuUs: number;
}

export interface Target {
  mode: 'service' | 'baseline' | 'baseline-auth';
  url: string;
  /** Resident size, V8 heap in use, and CPU time used so far (user + system, µs), in one message. */
  stats: () => Promise<TargetStats>;
  stop: () => Promise<void>;
}

let built = false;

/** Compiles src/ to dist/ once per bench run (serve.ts loads the config, and the service, from it), so the service measured is the one the production image runs. */
export function buildOnce(): void {
  if (built || process.env.BENCH_SOURCE === 'ts') return;
  execFileSync(process.execPath, [join(import.meta.dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(import.meta.dirname, '..', 'tsconfig.build.json')], { stdio: 'inherit' });
  built = true;
}

/** Asks a child process to stop (`ask`), kills it if it has not exited 5 s later, and resolves once it has exited. */
export function stopChild(child: ChildProcess, ask: () => void): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    ask();
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

export async function startTarget(mode: Target['mode'], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Target> {
  buildOnce();
  const child: ChildProcess = fork(join(import.meta.dirname, 'serve.ts'), [mode], {
    execArgv: [...nodeArgs, '--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port?: number }) => (m.port ? resolve(m.port) : reject(new Error('no port'))));
    child.once('exit', (code) => reject(new Error(`${mode} exited with ${code}`)));
  });
  const stats = (): Promise<TargetStats> =>
    new Promise((resolve) => {
      child.once('message', (m: TargetStats) => resolve(m));
      child.send('stats');
    });
  const stop = (): Promise<void> => stopChild(child, () => child.send('stop'));
  return { mode, url: `http://127.0.0.1:${port}`, stats, stop };
}

export interface LoadResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** The target's own CPU time per request served (µs), when the target was given: on a shared machine a
   * steadier measure of cost than requests per second, which also depends on the load generator's share. */
  cpuUsPerRequest?: number;
}

export interface LoadOptions {
  durationS: number;
  connections: number;
  /** The hook's path (SERVICE_PATH unless given: bench/peer-ahrq.ts drives another service). */
  path?: string;
  /** Headers for each request, asked once per request (a fresh client JWT each, as an EHR sends). */
  headers?: () => Record<string, string>;
}

/** Drives POST SERVICE_PATH with the bodies in turn, for a fixed time. */
export async function runLoad(target: Pick<Target, 'url'> & { stats?: () => Promise<Pick<TargetStats, 'cpuUs'>> }, bodies: string[], opts: LoadOptions): Promise<LoadResult> {
  const cpuBefore = (await target.stats?.())?.cpuUs;
  const url = target.url;
  const path = opts.path ?? SERVICE_PATH;
  const headers = opts.headers;
  const result = await autocannon({
    url: `${url}${path}`,
    connections: opts.connections,
    duration: opts.durationS,
    requests: bodies.map((body) => ({
      method: 'POST' as const,
      path,
      headers: { 'content-type': 'application/json' },
      body,
      ...(headers ? { setupRequest: (req: autocannon.Request): autocannon.Request => ({ ...req, headers: { ...req.headers, ...headers() } }) } : {}),
    })),
    timeout: 30,
  });
  const cpuAfter = (await target.stats?.())?.cpuUs;
  const served = result.requests.total;
  return {
    ...(cpuBefore !== undefined && cpuAfter !== undefined && served > 0 ? { cpuUsPerRequest: (cpuAfter - cpuBefore) / served } : {}),
    requestsPerSec: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

/**
 * User + system CPU time of any process on this machine, all its threads, in µs (Linux /proc/<pid>/stat, in
 * clock ticks of 10 ms): the same measure as the targets' own process.cpuUsage(), for a process that does not
 * answer the bench over IPC (the peer service of bench/peer-ahrq.ts).
 */
export function processCpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** One request, to check the target answers as expected before loading it. */
export async function postOnce(url: string, body: string, opts: { path?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; json: unknown; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}${opts.path ?? SERVICE_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', ...opts.headers }, body });
  const json: unknown = await res.json();
  return { status: res.status, json, ms: performance.now() - t0 };
}
