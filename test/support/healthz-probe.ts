import { request as httpRequest } from 'node:http';
import { Worker } from 'node:worker_threads';

/**
 * Sending hostile bodies to a service while timing its /healthz (issue #20 item 1). Shared by
 * test/security/adversarial-json.test.ts and bench/adversarial.ts.
 */
export interface Sent {
  status: number;
  body: string;
}

/** POSTs `body` to `url + path`; an answer before the whole body was sent is an answer, a dropped connection status 0. */
export function postBody(url: string, path: string, body: Buffer, headers: Record<string, string>): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length), ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8').slice(0, 500) }));
      res.on('error', reject);
    });
    // The service may answer before the whole body is sent (401, 404): the writes that follow may fail after
    // the answer came, which is not a failure. A connection dropped with no answer is status 0.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? resolve({ status: 0, body: `connection closed without an answer (${err.code})` }) : reject(err)));
    req.end(body);
  });
}

/**
 * The /healthz poller, in a worker thread: its own event loop and heap, so neither the sender's writes nor its
 * garbage collection (bodies of megabytes are built in the calling thread) are counted against the service. It
 * asks /healthz over one keep-alive connection, one call after another, until told to stop.
 */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let stop = false;
parentPort.on('message', () => { stop = true; });
(async () => {
  let worst = 0, calls = 0;
  while (!stop) {
    const started = performance.now();
    await new Promise((resolve, reject) => {
      http.request(workerData.url + '/healthz', { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject).end();
    });
    worst = Math.max(worst, performance.now() - started);
    calls++;
  }
  agent.destroy();
  parentPort.postMessage({ worst, calls });
})();
`;

/** Times /healthz at `url` until `until` settles: the slowest answer in ms, and how many were asked. */
export async function pollHealthz(url: string, until: Promise<unknown>): Promise<{ worst: number; calls: number }> {
  const worker = new Worker(POLLER, { eval: true, workerData: { url } });
  try {
    const result = new Promise<{ worst: number; calls: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await until.catch(() => undefined);
    worker.postMessage('stop');
    return await result;
  } finally {
    await worker.terminate();
  }
}
