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

/** The body crosses one of the bounds: the caller's bad input, refused before any JSON.parse. */
class JsonShapeError extends Error {}

/** Bytes of JSON's syntax the scan reads (RFC 8259 §2, §7). */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const LEFT_BRACE = 0x7b;
const RIGHT_BRACE = 0x7d;
const LEFT_BRACKET = 0x5b;
const RIGHT_BRACKET = 0x5d;
const COMMA = 0x2c;
const U = 0x75;

/** Where the scan stands between two chunks: between tokens, inside a string, just after a backslash in one, or
 * inside a number or a literal (true, false, null) whose first byte was counted. */
const BETWEEN = 0;
const IN_STRING = 1;
const ESCAPE = 2;
const IN_SCALAR = 3;
type ScanState = typeof BETWEEN | typeof IN_STRING | typeof ESCAPE | typeof IN_SCALAR;

/**
 * Checks a JSON text chunk by chunk, counting depth, keys per object, values, objects and arrays and the
 * length of each string, without building anything: the text is parsed once, by the framework's JSON parser,
 * after it passed. A scan of bytes (issue #21 item 5: @streamparser/json's tokenizer, which it replaces, built
 * every string and number it met and cost four times the JSON.parse after it, about a fifth of the heavy
 * hook's CPU). It does not validate the JSON: JSON.parse refuses what is not JSON, and on any text that is
 * JSON up to a point the scan counts what that part holds exactly as a tokenizer does, so nothing JSON.parse
 * reads before it fails escapes the bounds.
 */
export class JsonShapeCheck {
  /** Keys so far in each open container, innermost last; -1 for an array. */
  private readonly open: number[] = [];
  private values = 0;
  private containers = 0;
  private state: ScanState = BETWEEN;
  /** UTF-16 code units of the string being read (what a JavaScript string's length counts). */
  private stringLength = 0;
  /** Hex digits of a \uXXXX escape still to come. */
  private hexLeft = 0;
  /** Continuation bytes the current UTF-8 sequence still expects. */
  private trail = 0;

  constructor(private readonly bounds: JsonBounds) {}

  /** Feeds the next chunk; throws JsonShapeError when the text so far crosses a bound. */
  write(chunk: Uint8Array): void {
    const max = this.bounds.maxStringLength;
    let state: ScanState = this.state;
    let length = this.stringLength;
    let hexLeft = this.hexLeft;
    let trail = this.trail;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      if (state === IN_STRING) {
        // The string's bytes up to its closing quote or a backslash, in one tight loop: most of a body is text.
        for (; i < n; i++) {
          const c = chunk[i]!;
          if (c === QUOTE || c === BACKSLASH) break;
          if (hexLeft > 0) hexLeft--;
          else if (c < 0x80) {
            trail = 0;
            length++;
          } else if (c < 0xc0) {
            // A continuation byte adds nothing to its sequence; one that no sequence expects decodes to U+FFFD.
            if (trail > 0) trail--;
            else length++;
          } else {
            // A UTF-8 sequence's first byte: one code unit, two for a 4-byte sequence (a surrogate pair). Never
            // fewer than the decoder gives (an ill-formed sequence is at most one U+FFFD per byte).
            trail = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
            length += c >= 0xf0 ? 2 : 1;
          }
        }
        if (length > max) throw this.tooLong();
        if (i === n) break;
        if (chunk[i] === QUOTE) {
          state = BETWEEN;
          this.count();
        } else state = ESCAPE;
        continue;
      }
      const b = chunk[i]!;
      if (state === ESCAPE) {
        // \" \\ \/ \b \f \n \r \t are one code unit; \uXXXX is one, its four hex digits skipped.
        state = IN_STRING;
        hexLeft = b === U ? 4 : 0;
        if (++length > max) throw this.tooLong();
        continue;
      }
      if (state === IN_SCALAR) {
        // A number or literal runs until a structural byte, a quote or white space.
        if (b > 0x20 && b !== COMMA && b !== COLON && b !== RIGHT_BRACE && b !== RIGHT_BRACKET && b !== LEFT_BRACE && b !== LEFT_BRACKET && b !== QUOTE) continue;
        state = BETWEEN;
      }
      switch (b) {
        case QUOTE:
          state = IN_STRING;
          length = 0;
          hexLeft = 0;
          trail = 0;
          break;
        case LEFT_BRACE:
        case LEFT_BRACKET:
          this.openContainer(b === LEFT_BRACE);
          break;
        case RIGHT_BRACE:
        case RIGHT_BRACKET:
          this.open.pop();
          break;
        case COLON:
          this.key();
          break;
        case COMMA:
          break;
        default:
          // White space, or the first byte of a number or literal (counted once).
          if (b > 0x20) {
            state = IN_SCALAR;
            this.count();
          }
      }
    }
    this.state = state;
    this.stringLength = length;
    this.hexLeft = hexLeft;
    this.trail = trail;
  }

  private openContainer(object: boolean): void {
    this.count();
    if (++this.containers > this.bounds.maxContainers) throw new JsonShapeError(`the JSON body holds more than ${this.bounds.maxContainers} objects and arrays (the limit)`);
    this.open.push(object ? 0 : -1);
    if (this.open.length > this.bounds.maxDepth) throw new JsonShapeError(`the JSON body is nested more than ${this.bounds.maxDepth} levels deep (the limit)`);
  }

  private key(): void {
    const last = this.open.length - 1;
    const keys = (this.open[last] ?? 0) + 1;
    this.open[last] = keys;
    if (keys > this.bounds.maxKeysPerObject) throw new JsonShapeError(`a JSON object in the body has more than ${this.bounds.maxKeysPerObject} keys (the limit)`);
  }

  private tooLong(): JsonShapeError {
    return new JsonShapeError(`a JSON string in the body is longer than ${this.bounds.maxStringLength} characters (the limit)`);
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
