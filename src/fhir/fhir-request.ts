import type { Resource } from '@medplum/fhirtypes';

/**
 * One request to a FHIR server, bounded the same way for every outgoing call (the EHR's FHIR server and a
 * site's terminology server): a timeout, an abort signal, no redirects followed, the answer's size capped,
 * and the answer required to be a FHIR resource. Every failure is a FetchFailure with a kind from a closed
 * set, so /metrics labels stay bounded.
 */
export type FetchFailureKind = 'timeout' | 'aborted' | 'connection' | 'redirect' | 'http-status' | 'too-large' | 'not-json' | 'not-fhir' | 'operation-outcome' | 'paging' | 'limits';

export class FetchFailure extends Error {
  constructor(
    message: string,
    readonly kind: FetchFailureKind,
    /** The HTTP status, for `http-status`. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface FhirRequestOptions {
  timeoutMs: number;
  /** Largest answer read, in bytes (a server streaming without end cannot exhaust memory). */
  maxResponseBytes?: number;
  /** Aborted when the caller's total time is up: the request is cancelled. */
  signal?: AbortSignal;
  /** What the signal's abort means, for the failure message ("the hook ran out of time"). */
  abortedMessage?: string;
  accessToken?: string;
  fetch?: typeof fetch;
  /** POST a FHIR resource (a batch Bundle) instead of a GET. */
  body?: Resource;
  /** POST a form-encoded search (FHIR R4 §3.1.1.2 `POST [base]/[type]/_search`) instead of a GET. */
  form?: string;
  /**
   * An OperationOutcome answer is a failure (a search), or a resource the caller reads (an operation's
   * batch-response entries carry their own outcomes). Default: a failure.
   */
  acceptOperationOutcome?: boolean;
}

/** Sends one request and answers the FHIR resource it returned, or throws a FetchFailure. */
export async function requestFhirJson(url: URL, options: FhirRequestOptions): Promise<Resource> {
  const headers: Record<string, string> = { accept: 'application/fhir+json' };
  if (options.accessToken) headers.authorization = `Bearer ${options.accessToken}`;
  if (options.body) headers['content-type'] = 'application/fhir+json';
  else if (options.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const payload = options.body ? JSON.stringify(options.body) : options.form;
  const doFetch = options.fetch ?? fetch;
  let res: Response;
  try {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    res = await doFetch(url, {
      method: payload !== undefined ? 'POST' : 'GET',
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      redirect: 'manual',
      signal: options.signal ? AbortSignal.any([timeout, options.signal]) : timeout,
    });
  } catch (err) {
    if (options.signal?.aborted) throw new FetchFailure(options.abortedMessage ?? 'the request was cancelled', 'aborted');
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new FetchFailure(timedOut ? `no answer within ${options.timeoutMs} ms` : 'the connection failed', timedOut ? 'timeout' : 'connection');
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined);
    throw new FetchFailure(`it answered with a redirect (HTTP ${res.status}), which is not followed`, 'redirect');
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new FetchFailure(`HTTP ${res.status}`, 'http-status', res.status);
  }
  const text = await readLimited(res, options.maxResponseBytes ?? Number.POSITIVE_INFINITY);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new FetchFailure('the answer was not JSON', 'not-json');
  }
  if (typeof body !== 'object' || body === null || typeof (body as Resource).resourceType !== 'string') {
    throw new FetchFailure('the answer was not a FHIR resource', 'not-fhir');
  }
  if ((body as Resource).resourceType === 'OperationOutcome' && !options.acceptOperationOutcome) {
    throw new FetchFailure('it answered with an OperationOutcome', 'operation-outcome');
  }
  return body as Resource;
}

/** The body as text, refusing more than `max` bytes (by Content-Length when given, else while reading). */
async function readLimited(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new FetchFailure(`the answer was larger than ${max} bytes`, 'too-large');
  }
  if (!res.body) return '';
  const decoder = new TextDecoder();
  const chunks: string[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > max) {
        await res.body.cancel().catch(() => undefined);
        throw new FetchFailure(`the answer was larger than ${max} bytes`, 'too-large');
      }
      chunks.push(decoder.decode(chunk, { stream: true }));
    }
  } catch (err) {
    if (err instanceof FetchFailure) throw err;
    throw new FetchFailure('the connection broke while reading the answer', 'connection');
  }
  chunks.push(decoder.decode());
  return chunks.join('');
}
