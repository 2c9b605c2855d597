import { parentPort, workerData } from 'node:worker_threads';
import { loadMappings } from '../mappings/load-mappings.js';
import { narrowMappings, screenBatch, type ScreenBatch, type ScreenSetup } from './screen-batch.js';
import type { ScreenContext } from './screen-patient.js';

/**
 * A population job's worker thread (src/population/worker-pool.ts): loads and compiles the mappings once,
 * then screens the batches it is sent. Pure apart from the messages: no log, no network, no patient data out
 * except the entries.
 */
const setup = workerData as ScreenSetup;
const ctx: ScreenContext = {
  mappings: narrowMappings(loadMappings(setup.source), setup.trialIds),
  now: new Date(setup.now),
  fhirServer: setup.fhirServer,
  jobId: setup.jobId,
};
const port = parentPort;
if (!port) throw new Error('screen-worker runs as a worker thread');
port.on('message', (batch: ScreenBatch) => {
  port.postMessage(screenBatch(batch, ctx));
});
