/**
 * The FHIR-fetch path: the hook with fhirServer and no prefetch, against a HAPI FHIR server (FHIR_BASE_URL,
 * else the Maven-built test server started here), beside the slowest single search the service makes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { loadServiceDefinitions } from '../src/cds/service-definition.js';
import { fillTemplate } from '../src/data/prefetch-key.js';
import { daysSinceAnchor, loadExamples, shiftDates } from '../src/examples/example-patients.js';
import { loadMappings } from '../src/mappings/load-mappings.js';
import { EXAMPLES_DIR, MAPPINGS_DIR, ROOT, TYPICAL_ID } from './fixtures.js';
import { median, p90 } from './statistics.js';

const JAR = join(ROOT, 'test', 'fhir-server', 'target', 'hapi-fhir-test-server.jar');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a !== 'string' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface FhirServer {
  baseUrl: string;
  started: boolean;
  startMs?: number;
  /** The JVM's pid when started here (its CPU time is read from /proc by the benches). */
  pid?: number;
  stop: () => Promise<void>;
}

/** FHIR_BASE_URL if set; else builds (if needed) and starts the HAPI test server on a free port. */
export async function obtainFhirServer(log: (l: string) => void): Promise<FhirServer> {
  const fromEnv = process.env.FHIR_BASE_URL;
  if (fromEnv) return { baseUrl: fromEnv.replace(/\/$/, ''), started: false, stop: async () => {} };
  execFileSync('bash', [join(ROOT, 'test', 'fhir-server', 'build.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!existsSync(JAR)) throw new Error(`${JAR} was not built`);
  const port = await freePort();
  const t0 = performance.now();
  const java: ChildProcess = spawn('java', ['-Xmx1024m', '-jar', JAR, `--server.port=${port}`], { stdio: 'ignore' });
  let exited = false;
  java.once('exit', () => (exited = true));
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (exited) return resolve();
      java.once('exit', () => resolve());
      java.kill('SIGTERM');
      setTimeout(() => java.kill('SIGKILL'), 10_000).unref();
    });
  const baseUrl = `http://127.0.0.1:${port}/fhir`;
  log(`  starting HAPI FHIR on port ${port} (pid ${java.pid})...`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (exited) throw new Error('the HAPI server exited during start-up');
    if (Date.now() > deadline) {
      await stop();
      throw new Error('the HAPI server did not answer /metadata within 180 s');
    }
    try {
      const res = await fetch(`${baseUrl}/metadata`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { baseUrl, started: true, startMs: performance.now() - t0, ...(java.pid !== undefined ? { pid: java.pid } : {}), stop };
}

/** Loads the typical example (dates moved to `now`) with a transaction of PUTs; returns its patient id. */
export async function loadExample(baseUrl: string, now: Date): Promise<string> {
  const set = loadExamples(EXAMPLES_DIR);
  const example = set.patients.find((p) => p.id === TYPICAL_ID);
  if (!example) throw new Error(`no example ${TYPICAL_ID}`);
  const bundle = shiftDates(example.bundle, daysSinceAnchor(set.anchorDate, now));
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => r !== undefined);
  // The Patient first, so references to it resolve whatever order HAPI processes the entries in.
  resources.sort((a, b) => Number(b.resourceType === 'Patient') - Number(a.resourceType === 'Patient'));
  const tx: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((resource) => ({ resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` } })),
  };
  const res = await fetch(baseUrl, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(tx) });
  if (!res.ok) throw new Error(`loading the example failed: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  return example.id;
}

async function timedSearch(url: string): Promise<{ ms: number; resources: number; pages: number }> {
  const t0 = performance.now();
  let next: string | undefined = url;
  let resources = 0;
  let pages = 0;
  while (next) {
    const res = await fetch(next, { headers: { accept: 'application/fhir+json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status} for ${next}`);
    const body = (await res.json()) as Resource;
    pages++;
    if (body.resourceType !== 'Bundle') {
      resources++;
      break;
    }
    resources += body.entry?.length ?? 0;
    next = body.link?.find((l) => l.relation === 'next')?.url;
  }
  return { ms: performance.now() - t0, resources, pages };
}

export interface SearchTiming {
  key: string;
  medianMs: number;
  resources: number;
  pages: number;
}

export interface FhirPathTiming {
  searches: SearchTiming[];
  /** All the searches at once, as a client running them in parallel sees them: the service's own floor. */
  parallelMedianMs: number;
  hookMedianMs: number;
  hookP90Ms: number;
  rounds: number;
}


/**
 * Each prefetch template's search alone (with its next pages), then all of them at once, then one hook call
 * without prefetch, round after round: HAPI keeps getting faster as its JIT warms, and the machine's load
 * changes, so timing the searches first and the hook later would compare two different servers. Interleaved,
 * both see the same one. The first `warmup` rounds are not counted.
 */
export async function timeFhirPath(
  baseUrl: string,
  patientId: string,
  hook: () => Promise<number>,
  rounds = 25,
  warmup = 10,
): Promise<FhirPathTiming> {
  const mappings = loadMappings({ dir: MAPPINGS_DIR });
  const [service] = loadServiceDefinitions(join(ROOT, 'cds-hooks'), mappings);
  if (!service) throw new Error('no service definition');
  const urls = service.prefetch.map((key) => ({ key: key.key, url: new URL(fillTemplate(key.template, { patientId }), `${baseUrl}/`).toString() }));
  const alone = urls.map(() => [] as number[]);
  const sizes = urls.map(() => ({ resources: 0, pages: 0 }));
  const parallel: number[] = [];
  const hooks: number[] = [];
  for (let round = 0; round < warmup + rounds; round++) {
    const counted = round >= warmup;
    for (const [i, { url }] of urls.entries()) {
      const t = await timedSearch(url);
      if (counted) alone[i]!.push(t.ms);
      sizes[i] = { resources: t.resources, pages: t.pages };
    }
    const t0 = performance.now();
    await Promise.all(urls.map(({ url }) => timedSearch(url)));
    if (counted) parallel.push(performance.now() - t0);
    const hookMs = await hook();
    if (counted) hooks.push(hookMs);
  }
  return {
    searches: urls.map(({ key }, i) => ({ key, medianMs: median(alone[i]!), ...sizes[i]! })),
    parallelMedianMs: median(parallel),
    hookMedianMs: median(hooks),
    hookP90Ms: p90(hooks),
    rounds,
  };
}
