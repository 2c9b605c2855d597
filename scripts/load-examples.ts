/**
 * Loads the example patients (cds-hooks/examples/*.json) into a FHIR R4 server, with their dates moved to
 * today, as one transaction Bundle of PUTs (stable ids: running it twice updates, never duplicates).
 *
 *   npx tsx scripts/load-examples.ts http://localhost:8080/fhir     (or FHIR_BASE_URL=... npx tsx ...)
 *   npx tsx scripts/load-examples.ts --wait=300 http://hapi:8080/fhir   (first waits for the server to start)
 *
 * Used by docker-compose's one-shot loader and by hand against a local HAPI. The integration tests use
 * toTransactionBundle too, without the date shift (they evaluate at the examples' anchor date).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { daysSinceAnchor, loadExamples, shiftDates } from '../src/examples/example-patients.js';

const EXAMPLES_DIR = resolve(import.meta.dirname, '..', 'cds-hooks', 'examples');

/**
 * Collection Bundles to one transaction: every resource as `PUT Type/id`, so the server keeps the examples'
 * ids (HAPI needs client_id_strategy ANY for ids it could mistake for its own) and references like
 * `Patient/sle-child-likely` resolve inside the transaction.
 */
export function toTransactionBundle(bundles: readonly Bundle[]): Bundle {
  const entry: BundleEntry[] = [];
  for (const b of bundles) {
    for (const e of b.entry ?? []) {
      const r: Resource | undefined = e.resource;
      if (!r?.id) throw new Error(`a ${r?.resourceType ?? 'entry'} without an id cannot be loaded with a stable id`);
      entry.push({ fullUrl: `${r.resourceType}/${r.id}`, resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } });
    }
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

/** The example patients as the server should hold them: dates moved so the anchor date is `now`. */
export function examplesForToday(now: Date = new Date(), dir: string = EXAMPLES_DIR): Bundle[] {
  const set = loadExamples(dir);
  const days = daysSinceAnchor(set.anchorDate, now);
  return set.patients.map((p) => shiftDates(p.bundle, days));
}

/** POSTs a transaction to a FHIR base URL; throws with the server's diagnostics when it is refused. */
export async function postTransaction(baseUrl: string, bundle: Bundle, headers: Record<string, string> = {}): Promise<Bundle> {
  const res = await fetch(baseUrl.replace(/\/$/, ''), {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', ...headers },
    body: JSON.stringify(bundle),
  });
  const text = await res.text();
  if (!res.ok) {
    let diagnostics = text.slice(0, 500);
    try {
      diagnostics = (JSON.parse(text) as { issue?: { diagnostics?: string }[] }).issue?.map((i) => i.diagnostics).join('; ') ?? diagnostics;
    } catch {
      // not JSON: keep the raw start of the body
    }
    throw new Error(`transaction refused: HTTP ${res.status}: ${diagnostics}`);
  }
  return JSON.parse(text) as Bundle;
}

/** Polls `metadata` until the server answers 200: HAPI takes 20-60 s to start and its image has no healthcheck. */
export async function waitForFhirServer(baseUrl: string, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const res = await fetch(`${baseUrl.replace(/\/$/, '')}/metadata`, { signal: AbortSignal.timeout(5_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() >= deadline) throw new Error(`${baseUrl}/metadata did not answer 200 within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const waitArg = args.find((a) => a.startsWith('--wait='));
  const base = args.find((a) => !a.startsWith('--')) ?? process.env.FHIR_BASE_URL;
  if (!base) {
    console.error('usage: npx tsx scripts/load-examples.ts [--wait=SECONDS] <fhir-base-url>   (or set FHIR_BASE_URL)');
    process.exit(2);
  }
  if (waitArg) await waitForFhirServer(base, Number(waitArg.slice('--wait='.length)) || 0);
  const bundles = examplesForToday();
  const tx = toTransactionBundle(bundles);
  const started = performance.now();
  const response = await postTransaction(base, tx);
  const statuses = (response.entry ?? []).map((e) => e.response?.status ?? '?');
  const created = statuses.filter((s) => s.startsWith('201')).length;
  console.log(
    `loaded ${bundles.length} example patients (${tx.entry?.length ?? 0} resources: ${created} created, ${statuses.length - created} updated) ` +
      `into ${base} in ${Math.round(performance.now() - started)} ms`,
  );
}

// Run only as a script, so the tests can import the functions above.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
