/**
 * Gets the integration tests a real HAPI FHIR R4 server, in this order (issue #3):
 *  1. FHIR_BASE_URL, when the caller gives one (a server they run themselves);
 *  2. the `hapiproject/hapi` image through testcontainers, when a Docker engine answers (TEST_CONTAINERS=off
 *     skips it, =require makes it the only way: test/support/containers.ts);
 *  3. the Maven-built HAPI in test/fhir-server/ (same engine, no Docker), built if needed, started on a free
 *     port and stopped in teardown.
 * When none can be had the tests are skipped with the reason, unless REQUIRE_FHIR_SERVER=1 (CI): then the
 * run fails, so a CI machine that lost its Java never passes silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { containerMode, testcontainers } from '../support/containers.js';
import { freePort } from '../support/loopback.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The FHIR base URL (…/fhir) of the running HAPI server; '' when there is none. */
    fhirBaseUrl: string;
    /** Why there is no server ('' when there is one): the tests put it in their skipped suite's name. */
    fhirServerUnavailable: string;
  }
}

/** Pinned: HAPI FHIR 8.8.0, the same version as the Maven-built server. */
export const HAPI_IMAGE = 'hapiproject/hapi:v8.8.0-1';
const ROOT = resolve(import.meta.dirname, '..', '..');
const SERVER_DIR = join(ROOT, 'test', 'fhir-server');
const JAR = join(SERVER_DIR, 'target', 'hapi-fhir-test-server.jar');
// HAPI's Spring start: 20-60 s on an idle machine; the HAPI container took 280 s with 2 cores at load 20
// (issue #22), past the former 240 s. The wait ends early when the JVM exits.
const START_TIMEOUT_MS = 480_000;

interface Server {
  baseUrl: string;
  how: string;
  stop: () => Promise<void>;
}

function log(message: string): void {
  console.log(`[fhir-server] ${message}`);
}

async function metadataVersion(baseUrl: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${baseUrl}/metadata`, { headers: { accept: 'application/fhir+json' }, signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) return undefined;
    const body = (await res.json()) as { software?: { name?: string; version?: string }; fhirVersion?: string };
    return `${body.software?.name ?? 'unknown software'} ${body.software?.version ?? '?'} (FHIR ${body.fhirVersion ?? '?'})`;
  } catch {
    return undefined;
  }
}

/** Polls /metadata until it answers 200; stops early when `failed` says the server process is gone. */
async function waitForMetadata(baseUrl: string, timeoutMs: number, failed: () => string | undefined = () => undefined): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const version = await metadataVersion(baseUrl);
    if (version) return version;
    const why = failed();
    if (why) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`${baseUrl}/metadata did not answer 200 within ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function fromEnv(url: string): Promise<Server> {
  const baseUrl = url.replace(/\/$/, '');
  await waitForMetadata(baseUrl, 30_000);
  return { baseUrl, how: 'FHIR_BASE_URL', stop: async () => {} };
}

/** undefined when no Docker engine answers (the usual case on this project's machines). */
async function fromDocker(): Promise<Server | undefined> {
  const tc = await testcontainers(HAPI_IMAGE);
  if (!tc) return undefined;
  log(`Docker engine found: starting ${HAPI_IMAGE}`);
  const container = await new tc.GenericContainer(HAPI_IMAGE)
    .withEnvironment({
      'hapi.fhir.fhir_version': 'R4',
      // Tests write then read at once: a cached search result would be stale.
      'hapi.fhir.reuse_cached_search_results_millis': '0',
      // Stable example ids such as "sle-child-likely" and numeric ones need the ANY client-id strategy.
      'hapi.fhir.client_id_strategy': 'ANY',
      'hapi.fhir.cors.allow_Credentials': 'true',
      'hapi.fhir.cors.allowed_origin': '*',
    })
    .withExposedPorts(8080)
    .withWaitStrategy(tc.Wait.forHttp('/fhir/metadata', 8080).forStatusCode(200))
    .withStartupTimeout(START_TIMEOUT_MS)
    .start();
  return {
    baseUrl: `http://${container.getHost()}:${container.getMappedPort(8080)}/fhir`,
    how: `testcontainers ${HAPI_IMAGE}`,
    stop: async () => {
      await container.stop();
    },
  };
}

function hasJava(): boolean {
  return spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0;
}

/** Ends the JVM and anything it started: it runs in its own process group, so no orphan survives. */
async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** The reason there is no Maven-built server, or the running server. */
async function fromMavenJar(): Promise<Server | string> {
  if (!hasJava()) return 'no Docker engine answers and there is no `java` (Java 17+) to run the Maven-built HAPI';
  // build.sh is a no-op when the jar is newer than its sources, so running it always keeps the jar current.
  const built = spawnSync('bash', [join(SERVER_DIR, 'build.sh')], { stdio: 'inherit' });
  if (built.status !== 0) {
    if (!existsSync(JAR)) return `no Docker engine answers and ${JAR} could not be built (needs Maven 3.8+ and Maven Central or a warm ~/.m2)`;
    log('build.sh failed; using the existing (possibly stale) jar');
  }
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}/fhir`;
  const logFile = join(tmpdir(), `hapi-fhir-test-server-${port}.log`);
  const fd = openSync(logFile, 'w');
  // detached: its own process group, so teardown can end the JVM with everything under it.
  const child = spawn('java', ['-Xmx1024m', '-jar', JAR, `--server.port=${port}`], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exitNote: string | undefined;
  child.once('exit', (code, sig) => {
    exitNote = `the HAPI process exited (${sig ?? `code ${code}`}) before it was ready; log ${logFile}:\n${tail(logFile)}`;
  });
  // A vitest killed by Ctrl-C or a crash skips teardown; this still ends the JVM.
  const onExit = (): void => {
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', onExit);
  try {
    await waitForMetadata(baseUrl, START_TIMEOUT_MS, () => exitNote);
  } catch (err) {
    await stopProcessGroup(child);
    process.off('exit', onExit);
    throw err;
  }
  return {
    baseUrl,
    how: `Maven-built ${JAR.slice(ROOT.length + 1)} (pid ${child.pid}, log ${logFile})`,
    stop: async () => {
      await stopProcessGroup(child);
      process.off('exit', onExit);
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const required = process.env.REQUIRE_FHIR_SERVER === '1';
  const started = performance.now();
  let server: Server | undefined;
  let unavailable = '';
  try {
    const envUrl = process.env.FHIR_BASE_URL;
    if (envUrl) server = await fromEnv(envUrl);
    else {
      server = await fromDocker().catch((err: unknown) => {
        // Under TEST_CONTAINERS=require the container is the point of the run: its failure is the answer.
        if (containerMode() === 'require') throw err;
        // A Docker engine that cannot pull or start the image should not cost the run its server.
        log(`the HAPI container did not start (${err instanceof Error ? err.message : String(err)}); trying the Maven-built HAPI`);
        return undefined;
      });
      if (!server) {
        const jar = await fromMavenJar();
        if (typeof jar === 'string') unavailable = jar;
        else server = jar;
      }
    }
  } catch (err) {
    unavailable = err instanceof Error ? err.message : String(err);
  }

  if (!server) {
    if (required) throw new Error(`[fhir-server] REQUIRE_FHIR_SERVER=1 but no FHIR server could be had: ${unavailable}`);
    log(`no FHIR server: the integration tests are skipped. Why: ${unavailable}`);
    project.provide('fhirBaseUrl', '');
    project.provide('fhirServerUnavailable', unavailable);
    return async () => {};
  }

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const version = (await metadataVersion(server.baseUrl)) ?? 'unknown version';
  log(`using ${server.how}: ${version} at ${server.baseUrl}, ready in ${seconds} s`);
  project.provide('fhirBaseUrl', server.baseUrl);
  project.provide('fhirServerUnavailable', '');
  const stop = server.stop;
  return async () => {
    const t = performance.now();
    await stop();
    log(`stopped in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  };
}
