import { pathToFileURL } from 'node:url';
import { createPopulationSetup } from '../src/bulk/population-runner.js';
import { startScreeningJob } from '../src/bulk/population-jobs.js';
import type { ScreeningJob } from '../src/bulk/screening-job.js';
import { loadConfig } from '../src/config.js';
import { loadMappings } from '../src/mappings/load-mappings.js';
import { createSharedState } from '../src/store/create-shared-state.js';

/**
 * `npm run screen -- --fhir <FHIR base URL> [--group <id>] [--trial <id>]... [--full]`
 *
 * The coordinator's population screening from the command line (issue #19 item 1): one Bulk Data export of
 * the server (all patients, or one Group), screened against the trials, into the same screening store the
 * service's worklist reads (the embedded journal by default, PostgreSQL with DATABASE_URL). The next run is
 * incremental (`_since` the last export) unless --full. Embedded mode: run it while the service is stopped
 * (the journal has one writer), or POST /population/jobs to the running service instead.
 * Prints counts only, never patient data.
 */
async function main(argv: string[]): Promise<number> {
  const value = (name: string): string[] => argv.flatMap((a, i) => (a === name && argv[i + 1] ? [argv[i + 1]!] : []));
  const fhirServer = value('--fhir')[0];
  if (!fhirServer) {
    process.stderr.write('usage: npm run screen -- --fhir <FHIR base URL> [--group <id>] [--trial <id>]... [--full]\n');
    return 2;
  }
  const config = loadConfig();
  const log = {
    info: (data: object, msg: string): void => void process.stderr.write(`${msg} ${JSON.stringify(data)}\n`),
    warn: (data: object, msg: string): void => void process.stderr.write(`warning: ${msg} ${JSON.stringify(data)}\n`),
  };
  const mappings = loadMappings({
    dir: config.mappingsDir,
    ...(config.localCodesFile ? { localCodesFile: config.localCodesFile } : {}),
    ...(config.localConceptMapFile ? { localConceptMapFile: config.localConceptMapFile } : {}),
  });
  const { state } = await createSharedState(config, log);
  const clock = (): Date => new Date();
  const population = await createPopulationSetup({ config, mappings, screening: () => state.screening, clock, log });
  try {
    const group = value('--group')[0];
    const trialIds = value('--trial');
    const started = await startScreeningJob(
      { fhirServer, ...(group ? { groupId: group } : {}), ...(trialIds.length > 0 ? { trialIds } : {}), incremental: !argv.includes('--full') },
      { jobs: population.jobs, mappings, clock },
      population.runner,
    );
    process.stderr.write(`job ${started.id} (${started.mode}${started.since ? `, changes since ${started.since}` : ''})\n`);
    let job: ScreeningJob | undefined = started;
    for (let last = ''; job && job.state !== 'completed' && job.state !== 'failed'; job = await population.jobs.get(started.id)) {
      if (job.state !== last) process.stderr.write(`  ${(last = job.state)}\n`);
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!job || job.state === 'failed') {
      process.stderr.write(`job failed: ${job?.error ?? 'lost'}\n`);
      return 1;
    }
    const s = job.summary!;
    // A summary from before failedBatches and tooLarge existed has neither.
    const lost = [(s.tooLarge ?? 0) > 0 ? `${s.tooLarge} too large for a screening thread` : '', (s.failedBatches ?? 0) > 0 ? `${s.failedBatches} batches whose thread died` : ''].filter(Boolean);
    process.stdout.write(`${s.patients} patients (${s.screened} screened, ${s.unchanged} unchanged), ${s.resources} resources, ${job.files ?? 0} files, ${s.faults} faults${lost.length > 0 ? ` (${lost.join(', ')}: every criterion unknown)` : ''}\n`);
    for (const t of mappings.trials) {
      const entries = await state.screening.forTrial(t.id, job.fhirServer);
      const count = (status: string): number => entries.filter((e) => e.status === status).length;
      process.stdout.write(`  ${t.id}: ${count('likely-eligible')} likely, ${count('possibly-eligible')} possibly, ${entries.filter((e) => e.isNew && e.jobId === job.id).length} new\n`);
    }
    return 0;
  } finally {
    await population.close();
    await state.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
