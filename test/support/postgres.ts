/**
 * A throwaway PostgreSQL for the two-replica tests (issue #12 item 4), in this order:
 *  1. TEST_DATABASE_URL, a server the caller runs (its database must be one the tests may fill);
 *  2. the `postgres` image through testcontainers' GenericContainer, when a Docker engine answers
 *     (@testcontainers/postgresql is not a dependency); TEST_CONTAINERS=off skips it, =require makes it the
 *     only way (test/support/containers.ts);
 *  3. Debian's binaries (/usr/lib/postgresql/<v>/bin, installed by .ci/setup-postgres.sh): initdb into a temp
 *     dir, pg_ctl start on a free port on 127.0.0.1 (as user postgres through runuser when root: the server
 *     refuses to run as root), stopped and removed in teardown.
 * See ../shared/notes/postgresql-without-docker.md.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerMode, testcontainers } from './containers.js';
import { freePort } from './loopback.js';

export const POSTGRES_IMAGE = 'postgres:16-alpine';

export interface TestPostgres {
  /** A URL for the `postgres` database; tests create their own databases in it. */
  url: string;
  how: string;
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<v>/bin holding initdb, or undefined. */
export function debianBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : undefined;
}

async function fromDocker(): Promise<TestPostgres | undefined> {
  const tc = await testcontainers(POSTGRES_IMAGE);
  if (!tc) return undefined;
  const container = await new tc.GenericContainer(POSTGRES_IMAGE)
    .withEnvironment({ POSTGRES_PASSWORD: 'test', POSTGRES_HOST_AUTH_METHOD: 'trust' })
    .withExposedPorts(5432)
    .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  return { url: `postgres://postgres:test@${container.getHost()}:${container.getMappedPort(5432)}/postgres`, how: `Docker ${POSTGRES_IMAGE}`, stop: async () => void (await container.stop()) };
}

function run(asPostgres: boolean, cmd: string, args: string[]): void {
  const [file, argv] = asPostgres ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const r = spawnSync(file, argv, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args[0] ?? ''} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error)).slice(0, 2000)}`);
}

async function fromDebian(bin: string): Promise<TestPostgres> {
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'trialmatch-pg-'));
  if (root) chownSync(dir, uidOf('postgres'), gidOf('postgres'));
  const port = await freePort();
  const data = join(dir, 'data');
  run(root, join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  // fsync off: a throwaway cluster; the tests check the service's transactions, not the disk's.
  run(root, join(bin, 'pg_ctl'), ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    how: `Debian PostgreSQL (${bin}) on port ${port}`,
    stop: async () => {
      try {
        run(root, join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function idOf(flag: '-u' | '-g', name: string): number {
  const r = spawnSync('id', [flag, name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`no user ${name}: is the postgresql package installed? (.ci/setup-postgres.sh)`);
  return Number(r.stdout.trim());
}
const uidOf = (name: string) => idOf('-u', name);
const gidOf = (name: string) => idOf('-g', name);

/** A running PostgreSQL, or the reason there is none. */
export async function startTestPostgres(): Promise<TestPostgres | { unavailable: string }> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) return { url: given, how: 'TEST_DATABASE_URL', stop: async () => {} };
  const docker = await fromDocker().catch((err: Error) => ({ unavailable: `Docker answered but ${POSTGRES_IMAGE} did not start: ${err.message}` }));
  // Under TEST_CONTAINERS=require a container that did not start is the answer, not a reason to fall back.
  if (containerMode() === 'require') return docker ?? { unavailable: 'TEST_CONTAINERS=require but no PostgreSQL container' };
  if (docker && !('unavailable' in docker)) return docker;
  // Docker, else Debian's binaries (README): a Docker engine that cannot pull the image (no registry on a
  // fresh or offline machine) must not hide the binaries .ci/setup-postgres.sh installed.
  const dockerFailed = docker ? `${docker.unavailable}; ` : 'no TEST_DATABASE_URL, no Docker engine, ';
  const bin = debianBinDir();
  if (!bin) return { unavailable: `${dockerFailed}and no /usr/lib/postgresql/*/bin/initdb (run .ci/setup-postgres.sh)` };
  try {
    return await fromDebian(bin);
  } catch (err) {
    return { unavailable: `${dockerFailed}and Debian PostgreSQL did not start: ${(err as Error).message}` };
  }
}
