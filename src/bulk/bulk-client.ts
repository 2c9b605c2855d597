import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/**
 * A FHIR Bulk Data Access 2.0 client (https://hl7.org/fhir/uv/bulkdata/STU2/export.html): kick-off, status
 * polling with Retry-After, and each output file streamed to disk. It holds no patient data in memory beyond
 * one network chunk, and logs nothing: the job runner logs counts and durations.
 */

/** Who the export is of (Bulk Data 2.0 §Endpoint - All Patients / Group of Patients). */
export type ExportScope = { kind: 'patients' } | { kind: 'group'; groupId: string };

export interface KickOff {
  scope: ExportScope;
  types: readonly string[];
  typeFilters: readonly string[];
  /** Only resources changed after this instant (the previous export's transactionTime). */
  since?: string;
  /** Only these patients (Bulk Data 2.0 `patient` parameter, POST only): an incremental job's changed patients. */
  patients?: readonly string[];
}

/** The completion manifest (Bulk Data 2.0 §Response - Complete Status). */
export interface ExportManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count?: number }[];
  error: { type: string; url: string }[];
}

export interface BulkClientOptions {
  baseUrl: string;
  /** A bearer token for each request (SMART Backend Services); none for a loopback test server. */
  accessToken?: () => Promise<string | undefined>;
  fetch?: typeof fetch;
  /** Per HTTP request (kick-off, one status poll, the start of a download). */
  requestTimeoutMs: number;
  /** Bounds on Retry-After: a server asking less is polled after minPollMs, one asking more after maxPollMs. */
  minPollMs: number;
  maxPollMs: number;
  /** The whole export, from kick-off to the manifest: past it the export is cancelled (DELETE). */
  jobTimeoutMs: number;
  /** The largest output file accepted, in bytes: a download past it stops with an error. */
  maxFileBytes: number;
  /** Waits (tests pass a fast one); defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

export class BulkExportError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'BulkExportError';
  }
}

/** GET kick-off up to this URL length; past it, POST with a Parameters body (Bulk Data 2.0 §Bulk Data Kick-off Request). */
const MAX_GET_URL = 4000;

export class BulkClient {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: BulkClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms): Promise<void> => new Promise((r) => setTimeout(r, ms)));
  }

  /** Starts the export; returns the status URL from Content-Location (202 Accepted). */
  async kickOff(request: KickOff): Promise<string> {
    const path = request.scope.kind === 'group' ? `Group/${encodeURIComponent(request.scope.groupId)}/$export` : 'Patient/$export';
    const params = new URLSearchParams();
    params.set('_outputFormat', 'application/fhir+ndjson');
    if (request.types.length > 0) params.set('_type', request.types.join(','));
    if (request.since) params.set('_since', request.since);
    for (const f of request.typeFilters) params.append('_typeFilter', f);
    const getUrl = `${this.base}/${path}?${params.toString()}`;
    const headers = { accept: 'application/fhir+json', prefer: 'respond-async', ...(await this.auth()) };
    let res: Response;
    // GET while the URL is short and `_typeFilter` is given at most once: HAPI FHIR 8.8 refuses a repeated
    // `_typeFilter` on GET ("does not know how to handle GET operation"), and takes each as its own parameter in
    // a POST Parameters body.
    if (getUrl.length <= MAX_GET_URL && !request.patients?.length && request.typeFilters.length <= 1) {
      res = await this.request(getUrl, { headers });
    } else {
      // Bulk Data 2.0 §Query Parameters: `_since` is an instant, the others strings, `patient` references.
      const parameter: { name: string; valueString?: string; valueInstant?: string; valueReference?: { reference: string } }[] = [...params.entries()].map(([name, value]) =>
        name === '_since' ? { name, valueInstant: value } : { name, valueString: value },
      );
      for (const id of request.patients ?? []) parameter.push({ name: 'patient', valueReference: { reference: `Patient/${id}` } });
      res = await this.request(`${this.base}/${path}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Parameters', parameter }),
      });
    }
    if (res.status !== 202) throw new BulkExportError(`kick-off answered HTTP ${res.status}: ${await outcomeText(res)}`, res.status);
    await res.body?.cancel();
    const location = res.headers.get('content-location');
    if (!location) throw new BulkExportError('kick-off answered 202 without a Content-Location status URL');
    return new URL(location, `${this.base}/`).toString();
  }

  /**
   * Polls the status URL until the manifest (200), honouring Retry-After (seconds or an HTTP date) within
   * [minPollMs, maxPollMs]; an export still running at jobTimeoutMs is cancelled and the job fails.
   */
  async waitForManifest(statusUrl: string, onProgress?: (progress: string) => void): Promise<ExportManifest> {
    const deadline = Date.now() + this.options.jobTimeoutMs;
    let failures = 0;
    for (;;) {
      const res = await this.request(statusUrl, { headers: { accept: 'application/json', ...(await this.auth()) } }).catch((err: unknown) => err as Error);
      if (res instanceof Response && res.status === 200) return parseManifest(await res.json());
      if (res instanceof Response && res.status === 202) {
        failures = 0;
        const progress = res.headers.get('x-progress');
        if (progress && onProgress) onProgress(progress.slice(0, 100));
        await res.body?.cancel();
        const wait = this.retryAfter(res.headers.get('retry-after'));
        if (Date.now() + wait > deadline) {
          await this.cancel(statusUrl);
          throw new BulkExportError(`the export did not complete within ${Math.round(this.options.jobTimeoutMs / 1000)} s; cancelled`);
        }
        await this.sleep(wait);
        continue;
      }
      // Bulk Data 2.0 §Response - Error Status: a 4xx/5xx with an OperationOutcome. A 5xx or a network error
      // may be transient (the spec lets a server answer 429/503 with Retry-After): retried a few times.
      const status = res instanceof Response ? res.status : undefined;
      const transient = status === undefined || status === 429 || status >= 500;
      const why = res instanceof Response ? `HTTP ${res.status}: ${await outcomeText(res)}` : res.message;
      if (!transient || ++failures > 3 || Date.now() > deadline) throw new BulkExportError(`the export failed: ${why}`, status);
      await this.sleep(this.retryAfter(res instanceof Response ? res.headers.get('retry-after') : null));
    }
  }

  /** Streams one output file to `dir/name`; returns the bytes written. Never holds the file in memory. */
  async download(url: string, requiresAccessToken: boolean, dir: string, name: string): Promise<{ path: string; bytes: number }> {
    const headers: Record<string, string> = { accept: 'application/fhir+ndjson' };
    // Bulk Data 2.0 §File Request: the token goes with the file request only when the manifest asks for it
    // (files may sit on another host, such as a signed storage URL).
    if (requiresAccessToken) Object.assign(headers, await this.auth());
    const res = await this.request(url, { headers });
    if (res.status !== 200 || !res.body) throw new BulkExportError(`an output file answered HTTP ${res.status}`, res.status);
    const path = join(dir, name);
    let bytes = 0;
    const max = this.options.maxFileBytes;
    const count = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
        bytes += chunk.length;
        if (bytes > max) cb(new BulkExportError(`an output file is larger than ${max} bytes`));
        else cb(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), count, createWriteStream(path));
    return { path, bytes };
  }

  /** A plain FHIR search by `_id` (one page, as many as asked): the Medications an export's records reference. */
  async searchByIds<T>(type: string, ids: readonly string[]): Promise<T[]> {
    const url = `${this.base}/${type}?_id=${ids.map(encodeURIComponent).join(',')}&_count=${ids.length}`;
    const res = await this.request(url, { headers: { accept: 'application/fhir+json', ...(await this.auth()) } });
    if (res.status !== 200) throw new BulkExportError(`${type} search answered HTTP ${res.status}`, res.status);
    const bundle = (await res.json()) as { entry?: { resource?: T }[] };
    return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  }

  /** Bulk Data 2.0 §Delete a Bulk Data Request: the server may drop the files. Best effort. */
  async cancel(statusUrl: string): Promise<void> {
    try {
      const res = await this.request(statusUrl, { method: 'DELETE', headers: { ...(await this.auth()) } });
      await res.body?.cancel();
    } catch {
      // the server may already have removed it
    }
  }

  private retryAfter(header: string | null): number {
    let ms = this.options.minPollMs;
    if (header) {
      const seconds = Number(header);
      if (Number.isFinite(seconds)) ms = seconds * 1000;
      else {
        const at = Date.parse(header);
        if (!Number.isNaN(at)) ms = at - Date.now();
      }
    }
    return Math.min(this.options.maxPollMs, Math.max(this.options.minPollMs, ms));
  }

  private async auth(): Promise<Record<string, string>> {
    const token = await this.options.accessToken?.();
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  private async request(url: string, init: RequestInit): Promise<Response> {
    return this.fetchImpl(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(this.options.requestTimeoutMs) });
  }
}

function parseManifest(body: unknown): ExportManifest {
  const m = body as Partial<ExportManifest> | null;
  if (!m || typeof m.transactionTime !== 'string' || !Array.isArray(m.output)) throw new BulkExportError('the completion manifest has no transactionTime or output');
  const files = (list: unknown): { type: string; url: string; count?: number }[] =>
    (Array.isArray(list) ? (list as unknown[]) : []).filter((o): o is { type: string; url: string; count?: number } => {
      const f = o as { type?: unknown; url?: unknown } | null;
      return typeof f?.type === 'string' && typeof f.url === 'string';
    });
  return {
    transactionTime: m.transactionTime,
    request: typeof m.request === 'string' ? m.request : '',
    requiresAccessToken: m.requiresAccessToken === true,
    output: files(m.output),
    error: files(m.error),
  };
}

/** The OperationOutcome's diagnostics (no patient data: a server's message about the request), bounded. */
async function outcomeText(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const o = JSON.parse(text) as { issue?: { diagnostics?: string; details?: { text?: string } }[] };
    const said = o.issue?.map((i) => i.diagnostics ?? i.details?.text).filter(Boolean).join('; ');
    if (said) return said.slice(0, 300);
  } catch {
    // not JSON
  }
  return text.slice(0, 300) || '(no body)';
}
