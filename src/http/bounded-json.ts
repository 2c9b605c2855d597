import { Tokenizer, TokenType } from '@streamparser/json';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, contentTooLarge } from '../fhir/outcomes.js';

/**
 * Bounds on the shape of a JSON body (issue #20 item 1). JSON.parse costs far more per byte on some shapes
 * than on a FHIR record: 10 MiB nested 4 million deep took 0.5 s, an object of 883,000 keys 0.55 s, and a
 * million empty objects 0.4 s, while a real 7 MB prefetch of 20,000 results takes 35 ms. Past a bound the body
 * is refused with a 400 that names the bound, as soon as the chunk that crosses it arrives.
 */
export interface JsonBounds {
  /** Objects and arrays open at once. FHIR data more than 100 levels deep is refused anyway (readable-resource.ts). */
  maxDepth: number;
  /** Keys in one object: a FHIR resource has tens; a request, a handful. */
  maxKeysPerObject: number;
  /** Keys, values, objects and arrays in the whole body: a 10 MiB FHIR prefetch holds about a million. */
  maxValues: number;
  /**
   * Objects and arrays in the whole body. What JSON.parse pays for is about 0.25 µs per object or array, however
   * small: a million empty objects took 0.3 s on the event loop. FHIR records hold 8,000 per MB (the five Synthea
   * records here) to 20,000 per MB (a record of vital signs: 304,000 in 15 MB, parsed in 74 ms), so a 10 MiB
   * prefetch at most about 210,000; the bound is twice that.
   */
  maxContainers: number;
  /**
   * Characters in one string or key. The evaluator reads at most 4096 of any text (fhir/bounded-text.ts), and the
   * prefetch templates ask for no attachments; a 9 MiB string still cost its hook 150 ms to carry through.
   */
  maxStringLength: number;
}

export const JSON_BOUNDS: JsonBounds = { maxDepth: 128, maxKeysPerObject: 1000, maxValues: 2_000_000, maxContainers: 400_000, maxStringLength: 1024 * 1024 };

/** The body crosses one of the bounds, or is not JSON: the caller's bad input, refused before any JSON.parse. */
class JsonShapeError extends Error {}

/**
 * Checks a JSON text chunk by chunk with @streamparser/json's tokenizer (a well-kept streaming tokenizer: no
 * JSON parser on npm takes depth or key limits as options), counting depth, keys per object and values. It
 * builds nothing: the text is parsed once, by the framework's JSON parser, after it passed.
 */
export class JsonShapeCheck {
  private readonly tokenizer = new Tokenizer({ stringBufferSize: 64 * 1024, numberBufferSize: 64 });
  /** Keys so far in each open container, innermost last; -1 for an array. */
  private readonly open: number[] = [];
  private values = 0;
  private containers = 0;

  constructor(private readonly bounds: JsonBounds) {
    this.tokenizer.onToken = ({ token, value }): void => {
      if (token === TokenType.STRING && typeof value === 'string' && value.length > this.bounds.maxStringLength) {
        throw new JsonShapeError(`a JSON string in the body is longer than ${this.bounds.maxStringLength} characters (the limit)`);
      }
      this.see(token);
    };
  }

  /** Feeds the next chunk; throws JsonShapeError when the text so far crosses a bound or is not JSON. */
  write(chunk: Uint8Array): void {
    try {
      this.tokenizer.write(chunk);
    } catch (err) {
      throw err instanceof JsonShapeError ? err : new JsonShapeError('the body is not valid JSON');
    }
  }

  private see(token: TokenType): void {
    switch (token) {
      case TokenType.LEFT_BRACE:
      case TokenType.LEFT_BRACKET:
        this.count();
        if (++this.containers > this.bounds.maxContainers) throw new JsonShapeError(`the JSON body holds more than ${this.bounds.maxContainers} objects and arrays (the limit)`);
        this.open.push(token === TokenType.LEFT_BRACE ? 0 : -1);
        if (this.open.length > this.bounds.maxDepth) throw new JsonShapeError(`the JSON body is nested more than ${this.bounds.maxDepth} levels deep (the limit)`);
        return;
      case TokenType.RIGHT_BRACE:
      case TokenType.RIGHT_BRACKET:
        this.open.pop();
        return;
      case TokenType.COLON: {
        const last = this.open.length - 1;
        const keys = (this.open[last] ?? 0) + 1;
        this.open[last] = keys;
        if (keys > this.bounds.maxKeysPerObject) throw new JsonShapeError(`a JSON object in the body has more than ${this.bounds.maxKeysPerObject} keys (the limit)`);
        return;
      }
      case TokenType.STRING:
      case TokenType.NUMBER:
      case TokenType.TRUE:
      case TokenType.FALSE:
      case TokenType.NULL:
        this.count();
        return;
      case TokenType.COMMA:
      case TokenType.SEPARATOR:
        return;
    }
  }

  private count(): void {
    if (++this.values > this.bounds.maxValues) throw new JsonShapeError(`the JSON body holds more than ${this.bounds.maxValues} keys and values (the limit)`);
  }
}

/**
 * The parser for every JSON body the service reads (application/json and application/fhir+json): the body
 * limit (the route's, else BODY_LIMIT_BYTES) checked on the declared length and on every chunk, the shape
 * checked as it arrives (JsonShapeCheck), then the framework's JSON parser, which refuses prototype poisoning.
 * Runs only after the onRequest hooks: an unknown path (404) or an unauthenticated call (401) is answered
 * before any of its body is read.
 */
export function registerBoundedJson(app: FastifyInstance, bodyLimit: number, bounds: JsonBounds = JSON_BOUNDS, prototypeKeys: 'error' | 'ignore' = 'error'): void {
  // `ignore` only where every key of the body is visited again anyway (the hook: issue #21 item 5); the bounds
  // on shape hold either way.
  const parseText = app.getDefaultJsonParser(prototypeKeys, prototypeKeys);
  for (const type of ['application/json', 'application/fhir+json']) if (app.hasContentTypeParser(type)) app.removeContentTypeParser(type);
  app.addContentTypeParser(['application/json', 'application/fhir+json'], (request: FastifyRequest, payload, done) => {
    const limit = request.routeOptions.bodyLimit ?? bodyLimit;
    const tooLarge = (): Error => contentTooLarge(`the request body is too large: more than ${limit} bytes (the limit)`);
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      done(tooLarge(), undefined);
      return;
    }
    const check = new JsonShapeCheck(bounds);
    const chunks: Buffer[] = [];
    let received = 0;
    /** A bound crossed: the rest is read and dropped, unchecked, and the refusal sent at the end of the body. */
    let refused: Error | undefined;
    const settle = (err: Error | null, body?: unknown): void => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      done(err, body);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      // Past the body limit the framework's way: answered now, and the connection closed after the answer.
      if (received > limit) return settle(tooLarge());
      if (refused) return;
      // One chunk, then back to the event loop: a socket that is ready delivers up to 32 reads in one go, and
      // tokenizing 2 MiB of a costly shape in one go held /healthz for 400 ms.
      payload.pause();
      setImmediate(() => payload.resume());
      try {
        check.write(chunk);
        chunks.push(chunk);
      } catch (err) {
        // Answered once the client has sent its body: closing on unread data would reset the connection, and
        // the client could lose the answer with it.
        refused = err instanceof JsonShapeError ? badRequest(err.message) : (err as Error);
        chunks.length = 0;
      }
    };
    const onEnd = (): void => {
      if (refused) return settle(refused);
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      void parseText(request, Buffer.concat(chunks, received).toString('utf8'), done);
    };
    const onError = (err: Error): void => settle(err);
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  });
}
