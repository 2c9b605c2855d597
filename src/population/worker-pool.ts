import { Worker } from 'node:worker_threads';
import type { BatchResult, ScreenBatch, ScreenSetup } from './screen-batch.js';

/** Runs screening batches; resolves each with its result, or rejects when the thread screening it failed. */
export interface ScreenPool {
  readonly threads: number;
  run(batch: ScreenBatch): Promise<BatchResult>;
  close(): Promise<void>;
}

/** Old-generation heap per screening thread, MiB (ScreenOptions.threadHeapMb). */
export const WORKER_HEAP_MB = 256;
/**
 * Young generation per screening thread, MiB (V8 splits it into semi-spaces of a third each). Screening
 * allocates a patient's parsed record and its readable copies and drops them all a millisecond later: with
 * the small young generation V8 sizes for a 256 MiB heap, those short-lived objects were scavenged over and
 * over and some promoted. Measured on 4,000 cohort patients, two threads, alternated under the same load:
 * 3.52 -> 3.28 and 3.72 -> 3.42 ms CPU per patient at 48 MiB; 96 MiB was no better and used more memory.
 */
const WORKER_YOUNG_MB = 48;

interface Task {
  batch: ScreenBatch;
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

/**
 * How a worker thread is started: the compiled .js beside this file in a build; from source (tsx, vitest) a
 * small module that registers tsx's loader in the new thread and imports the .ts worker through it (a loader
 * registered in this thread does not reach a worker's entry module on Node 20).
 */
function workerStart(): { entry: URL | string; eval: boolean; execArgv: string[] } {
  if (!import.meta.url.endsWith('.ts')) return { entry: new URL('./screen-worker.js', import.meta.url), eval: false, execArgv: process.execArgv };
  const worker = new URL('./screen-worker.ts', import.meta.url).href;
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(worker)}, ${JSON.stringify(import.meta.url)}))`;
  return { entry: code, eval: true, execArgv: [] };
}

/**
 * A fixed set of worker threads (node:worker_threads), each with the mappings loaded once, fed batches as
 * they become free. A thread that dies (out of memory on a monstrous record, a defect) fails the batch it
 * held, and a new thread takes its place, so one bad batch never ends the job.
 */
export class WorkerPool implements ScreenPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Task[] = [];
  private readonly busy = new Map<Worker, Task>();
  private readonly all = new Set<Worker>();
  private closing = false;

  constructor(
    private readonly setup: ScreenSetup,
    readonly threads: number,
    private readonly heapMb: number = WORKER_HEAP_MB,
  ) {
    for (let i = 0; i < threads; i++) this.spawn();
  }

  private spawn(): void {
    const start = workerStart();
    // A bounded heap per thread (the mappings and a batch need far less): memory stays under the job's bound
    // (issue #19: < 1 GiB for the whole process) whatever a record holds; a thread past it dies and is replaced.
    const worker = new Worker(start.entry, { eval: start.eval, workerData: this.setup, execArgv: start.execArgv, resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: WORKER_YOUNG_MB } });
    this.all.add(worker);
    worker.on('message', (result: BatchResult) => {
      const task = this.busy.get(worker);
      this.busy.delete(worker);
      task?.resolve(result);
      this.next(worker);
    });
    const fail = (error: Error): void => {
      if (!this.all.delete(worker)) return;
      const task = this.busy.get(worker);
      this.busy.delete(worker);
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
      task?.reject(error);
      if (this.closing) return;
      // A thread that cannot even start (the mappings do not load) fails every batch rather than respawning forever.
      if (!task && this.all.size === 0) {
        for (const t of this.queue.splice(0)) t.reject(error);
        return;
      }
      this.spawn();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`screening thread exited with code ${code}`)));
    this.next(worker);
  }

  private next(worker: Worker): void {
    const task = this.queue.shift();
    if (!task) {
      this.idle.push(worker);
      return;
    }
    this.busy.set(worker, task);
    worker.postMessage(task.batch);
  }

  run(batch: ScreenBatch): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      const task = { batch, resolve, reject };
      const worker = this.idle.shift();
      if (!worker) {
        this.queue.push(task);
        return;
      }
      this.busy.set(worker, task);
      worker.postMessage(batch);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const workers = [...this.all];
    this.all.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The same work in the calling thread: when there is one core, or the mappings cannot be loaded by a thread. */
export class InProcessPool implements ScreenPool {
  readonly threads = 0;
  constructor(private readonly screen: (batch: ScreenBatch) => BatchResult) {}
  run(batch: ScreenBatch): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      // setImmediate lets the caller's I/O (reading the next patients) run between batches.
      setImmediate(() => {
        try {
          resolve(this.screen(batch));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
