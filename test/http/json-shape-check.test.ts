import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonShapeCheck, type JsonBounds } from '../../src/http/bounded-json.js';

/**
 * The shape check is a scan of bytes (issue #21 item 5), not a tokenizer: whatever the chunking, it must refuse
 * exactly the bodies whose parsed value crosses a bound (issue #20 item 1). The reference here walks what
 * JSON.parse built: keys and values counted as a tokenizer counts them (every key, string, number, literal,
 * object and array), string lengths as JavaScript counts them (UTF-16 code units).
 */
interface Shape {
  depth: number;
  keysPerObject: number;
  values: number;
  containers: number;
  stringLength: number;
}

function shapeOf(value: unknown, depth = 1, out: Shape = { depth: 0, keysPerObject: 0, values: 0, containers: 0, stringLength: 0 }): Shape {
  out.values++;
  if (typeof value === 'string') out.stringLength = Math.max(out.stringLength, value.length);
  if (typeof value !== 'object' || value === null) return out;
  out.containers++;
  out.depth = Math.max(out.depth, depth);
  if (Array.isArray(value)) {
    for (const v of value) shapeOf(v, depth + 1, out);
    return out;
  }
  const keys = Object.keys(value);
  out.keysPerObject = Math.max(out.keysPerObject, keys.length);
  for (const k of keys) {
    out.values++;
    out.stringLength = Math.max(out.stringLength, k.length);
    shapeOf((value as Record<string, unknown>)[k], depth + 1, out);
  }
  return out;
}

function crosses(s: Shape, b: JsonBounds): boolean {
  return s.depth > b.maxDepth || s.keysPerObject > b.maxKeysPerObject || s.values > b.maxValues || s.containers > b.maxContainers || s.stringLength > b.maxStringLength;
}

/** Feeds the bytes cut at the given positions; true when the check refused them. */
function refuses(bytes: Buffer, cuts: readonly number[], bounds: JsonBounds): boolean {
  const check = new JsonShapeCheck(bounds);
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  try {
    for (const to of [...at, bytes.length]) {
      check.write(bytes.subarray(from, Math.max(from, to)));
      from = Math.max(from, to);
    }
    return false;
  } catch (err) {
    expect((err as Error).message).toMatch(/\(the limit\)$/);
    return true;
  }
}

const bounds = fc.record({
  maxDepth: fc.integer({ min: 1, max: 6 }),
  maxKeysPerObject: fc.integer({ min: 0, max: 6 }),
  maxValues: fc.integer({ min: 1, max: 60 }),
  maxContainers: fc.integer({ min: 1, max: 20 }),
  maxStringLength: fc.integer({ min: 0, max: 12 }),
});

describe('JsonShapeCheck', () => {
  it('refuses a body, in any chunks, exactly when its parsed value crosses a bound', () => {
    fc.assert(
      fc.property(
        // Text of every kind: escapes, non-Latin scripts and characters outside the BMP (two code units, four bytes).
        fc.jsonValue({ maxDepth: 5, stringUnit: fc.oneof(fc.constantFrom('"', '\\', '/', '\n', '\u0001', 'é', '狼', '😀'), fc.string({ unit: 'grapheme', maxLength: 1 })) }),
        fc.constantFrom(undefined, 1, '\t'),
        fc.array(fc.nat(), { maxLength: 8 }),
        bounds,
        (value, indent, cuts, b) => {
          const text = JSON.stringify(value, null, indent);
          expect(refuses(Buffer.from(text, 'utf8'), cuts, b)).toBe(crosses(shapeOf(JSON.parse(text)), b));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('counts bytes no UTF-8 sequence expects as the decoder does (one U+FFFD each), so they cannot hide a long string', () => {
    const b: JsonBounds = { maxDepth: 10, maxKeysPerObject: 10, maxValues: 100, maxContainers: 10, maxStringLength: 100 };
    const stray = Buffer.concat([Buffer.from('{"a":"'), Buffer.alloc(101, 0x80), Buffer.from('"}')]);
    expect(JSON.parse(stray.toString('utf8')).a.length).toBe(101);
    expect(refuses(stray, [], b)).toBe(true);
    const fits = Buffer.concat([Buffer.from('{"a":"'), Buffer.alloc(100, 0x80), Buffer.from('"}')]);
    expect(refuses(fits, [7, 50], b)).toBe(false);
  });
});
