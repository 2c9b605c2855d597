/**
 * PostgreSQL group commit (issue #21 item 5): hooks per second and CPU per hook of two checkouts on one throwaway
 * PostgreSQL, interleaved in one run (A, B, A, B, …), each checkout's service its own process, compiled as the
 * production image runs it (`npm run build`, then `node dist/src/server.js`), its own database on the same server.
 *
 *   git worktree add --detach /tmp/before <commit> && ln -s "$PWD/node_modules" /tmp/before/node_modules
 *   npx tsx bench/postgres-group-commit.ts /tmp/before [rounds=3] [seconds=10] [connections=16]
 *
 * The hook is the typical one (example patient sle-child-likely, prefetch, no fhirServer), with info logging
 * (to /dev/null) and AUTH_MODE=off, so the difference is the per-hook writes. CPU is the service process's
 * user + system time (/proc/<pid>/stat), and the PostgreSQL server's: the postmaster's own and reaped children's
 * time plus its live children's, which needs PostgreSQL on this machine (test/support/postgres.ts: Debian's
 * binaries, or TEST_DATABASE_URL pointing at a local server); and the transactions committed in the service's
 * database per hook (pg_stat_database), i.e. its writing round trips. Prints one line per run and a median table.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { prefetchFromBundle } from '../src/examples/example-patients.js';
import { startTestPostgres } from '../test/support/postgres.js';
import { freePort } from '../test/support/loopback.js';
import { createDatabase } from '../test/support/replica.js';
import type { Bundle } from '@medplum/fhirtypes';

const HERE = resolve(import.meta.dirname, '..');
const OTHER = process.argv[2];
if (!OTHER) throw new Error('usage: npx tsx bench/postgres-group-commit.ts <other checkout> [rounds] [seconds] [connections]');
const ROUNDS = Number(process.argv[3] ?? 3);
const SECONDS = Number(process.argv[4] ?? 10);
const CONNECTIONS = Number(process.argv[5] ?? 16);
const SERVICE = '/cds-services/trialmatch-sle';
const TICK = 100; // USER_HZ: /proc times are in clock ticks

const bundle = JSON.parse(readFileSync(resolve(HERE, 'cds-hooks', 'examples', 'sle-child-likely.json'), 'utf8')) as Bundle;
const patientId = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource?.id ?? '';
const body = JSON.stringify({ hook: 'patient-view', hookInstance: '0b0b0b0b-0000-4000-8000-000000000000', context: { userId: 'Practitioner/example', patientId }, prefetch: prefetchFromBundle(bundle) });

/** utime, stime, cutime, cstime of a process, in µs. */
function cpuOf(pid: number): { own: number; reaped: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const us = (i: number): number => (Number(f[i]) * 1e6) / TICK;
  return { own: us(11) + us(12), reaped: us(13) + us(14) };
}

/** CPU used so far by the PostgreSQL server: the postmaster, its reaped children and its live ones (µs). */
function postgresCpu(postmaster: number): number {
  const { own, reaped } = cpuOf(postmaster);
  let total = own + reaped;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) total += cpuOf(Number(d)).own;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

async function postmasterPid(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const backend = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const stat = readFileSync(`/proc/${backend}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } finally {
    await client.end();
  }
}

interface Service {
  process: ChildProcess;
  url: string;
  database: string;
}

/**
 * Transactions committed in a database so far (pg_stat_database.xact_commit): each statement outside BEGIN is one,
 * so the difference over a run, per hook, is the round trips that commit. Backends report their counts at most
 * once a second, and an idle one within 10 s, so the bench waits 11 s before reading.
 */
async function commits(url: string, database: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>('select xact_commit as n from pg_stat_database where datname = $1', [database])).rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

async function startService(root: string, databaseUrl: string): Promise<Service> {
  const database = new URL(databaseUrl).pathname.slice(1);
  execFileSync(process.execPath, [resolve(HERE, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/src/server.js'], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, SUPPRESSION_SECRET: 'pg-bench-secret-0123456789abcdef', AUTH_MODE: 'off', DEV_TRUST: '1', RATE_LIMIT: 'off' },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the service in ${root} exited (${child.exitCode})`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error(`the service in ${root} did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { process: child, url, database };
}

interface Run {
  hooksPerSec: number;
  serviceCpuUs: number;
  postgresCpuUs: number;
  commitsPerHook: number;
  p99Ms: number;
  non2xx: number;
}

async function measure(service: Service, postmaster: number, serverUrl: string): Promise<Run> {
  const pid = service.process.pid!;
  await new Promise((r) => setTimeout(r, 11_000));
  const c0 = await commits(serverUrl, service.database);
  const s0 = cpuOf(pid).own;
  const p0 = postgresCpu(postmaster);
  const result = await autocannon({ url: `${service.url}${SERVICE}`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: SECONDS });
  const served = result.requests.total;
  const s1 = cpuOf(pid).own;
  const p1 = postgresCpu(postmaster);
  await new Promise((r) => setTimeout(r, 11_000));
  const c1 = await commits(serverUrl, service.database);
  return {
    hooksPerSec: served / SECONDS,
    serviceCpuUs: (s1 - s0) / served,
    postgresCpuUs: (p1 - p0) / served,
    commitsPerHook: (c1 - c0) / served,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

const postgres = await startTestPostgres();
if ('unavailable' in postgres) throw new Error(`no PostgreSQL: ${postgres.unavailable}`);
try {
  const postmaster = await postmasterPid(postgres.url);
  const commitOf = (root: string): string => execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const builds = [
    { name: `other (${commitOf(resolve(OTHER))})`, root: resolve(OTHER) },
    { name: `this (${commitOf(HERE)})`, root: HERE },
  ];
  const services = await Promise.all(builds.map(async (b, i) => startService(b.root, await createDatabase(postgres.url, `pg_bench_${i}_${process.pid}`))));
  try {
    // Warm-up: JIT, pools and caches, not counted.
    for (const s of services) await autocannon({ url: `${s.url}${SERVICE}`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: 3 });
    const runs: Run[][] = builds.map(() => []);
    const load0 = loadavg()[0]!;
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, s] of services.entries()) {
        const run = await measure(s, postmaster, postgres.url);
        runs[i]!.push(run);
        console.log(`round ${r + 1} ${builds[i]!.name}: ${run.hooksPerSec.toFixed(0)} hooks/s, service ${run.serviceCpuUs.toFixed(0)} µs/hook, PostgreSQL ${run.postgresCpuUs.toFixed(0)} µs/hook, ${run.commitsPerHook.toFixed(2)} commits/hook, p99 ${run.p99Ms} ms, non-2xx ${run.non2xx}`);
      }
    }
    const load1 = loadavg()[0]!;
    console.log(`\n${postgres.how}; ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections; load average (1 min) ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end\n`);
    console.log('| build | hooks/s | service CPU per hook | PostgreSQL CPU per hook | total CPU per hook | commits per hook | p99 |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [i, b] of builds.entries()) {
      const m = (k: keyof Run): number => median(runs[i]!.map((x) => x[k]));
      const total = median(runs[i]!.map((x) => x.serviceCpuUs + x.postgresCpuUs));
      console.log(`| ${b.name} | ${m('hooksPerSec').toFixed(0)} | ${m('serviceCpuUs').toFixed(0)} µs | ${m('postgresCpuUs').toFixed(0)} µs | ${total.toFixed(0)} µs | ${m('commitsPerHook').toFixed(2)} | ${m('p99Ms')} ms |`);
    }
  } finally {
    for (const s of services) s.process.kill('SIGTERM');
  }
} finally {
  await postgres.stop();
}
