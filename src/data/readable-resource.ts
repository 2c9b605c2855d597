import type { Resource } from '@medplum/fhirtypes';
import { TEXT_LIMITS } from '../fhir/bounded-text.js';
import { badRequest } from '../fhir/outcomes.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deeper than any real FHIR resource: past this the data is refused rather than walked. */
const MAX_DEPTH = 100;

/**
 * FHIR primitives (FHIR R4 §JSON representation) the engine and the cards read as strings: anything else in
 * these places (an object, a number, an array, null, "") is removed, so it reads as absent, never as a value.
 * `code` is a string in Coding and Quantity but a CodeableConcept in resources, so an object is kept there.
 */
const STRING_PRIMITIVES = new Set([
  'resourceType', 'id', 'text', 'display', 'system', 'unit', 'reference', 'status', 'gender', 'birthDate', 'deceasedDateTime',
  'effectiveDateTime', 'effectiveInstant', 'issued', 'onsetDateTime', 'abatementDateTime', 'recordedDate', 'start', 'end',
  'valueString', 'valueDateTime', 'authoredOn', 'performedDateTime', 'occurrenceDateTime', 'occurrenceString', 'dateAsserted', 'comparator', 'version',
  'whenHandedOver', 'whenPrepared', 'recorded',
]);

/** String fields the evaluator parses, with their caps (src/fhir/bounded-text.ts). */
const BOUNDED_FIELDS: Readonly<Record<string, number>> = { valueString: TEXT_LIMITS.valueString, display: TEXT_LIMITS.display };

/** The fields the record's index reads as CodeableConcepts: an object whose `coding` is a list of objects. */
const CONCEPTS = new Set(['code', 'vaccineCode', 'medicationCodeableConcept', 'valueCodeableConcept']);

/**
 * A key that would set an object's prototype when copied with [[Set]] (`__proto__`), or a `constructor` that
 * carries a `prototype` (issue #21 item 5). JSON.parse makes them plain own keys; they are refused here, where
 * every key of the patient data is visited anyway, instead of by a second scan of the whole body at parse time
 * (secure-json-parse, which cost 3.4 M instructions on a heavy hook). FHIR has no element of either name.
 */
function isPrototypeKey(key: string, value: unknown): boolean {
  return key === '__proto__' || (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype'));
}

function poisoned(): Error {
  return badRequest('the patient data holds a "__proto__" or "constructor.prototype" key, which FHIR never has', ['prefetch']);
}

function tooDeep(): Error {
  return badRequest(`the patient data is nested more than ${MAX_DEPTH} levels deep`, ['prefetch']);
}

/**
 * Whether a string is empty or only whitespace. Most strings start with a visible character, which settles
 * it without trim(); the test is a superset of what trim() removes, so trim() decides the rest.
 */
function blank(s: string): boolean {
  if (s.length === 0) return true;
  const c = s.charCodeAt(0);
  return (c <= 32 || c === 0xa0 || c >= 0x1680) && s.trim() === '';
}

/** One field's value made safe to read, or undefined to remove it. Copies only what it changes. */
function cleanField(key: string, value: unknown, depth: number): unknown {
  // FHIR JSON has no nulls and no empty strings (R4 §JSON: "primitive values SHALL NOT be empty").
  if (value === null || (typeof value === 'string' && blank(value))) return undefined;
  if (key.charCodeAt(0) === 95 /* _ */) return value; // primitive extensions: not read
  if (STRING_PRIMITIVES.has(key)) {
    if (typeof value !== 'string') return undefined;
    // Issue #12 item 2: text longer than the field ever holds is not read (absent, so unknown), which keeps
    // every parser after this one bounded; a unit is kept and refused by units.ts (absent would be dimensionless).
    const cap = BOUNDED_FIELDS[key];
    return cap !== undefined && value.length > cap ? undefined : value;
  }
  if (CONCEPTS.has(key)) {
    if (key === 'code' && typeof value === 'string') return value;
    if (!isObject(value)) return undefined;
    const cleaned = cleanValue(value, depth) as Record<string, unknown>;
    if (cleaned.coding === undefined || (Array.isArray(cleaned.coding) && cleaned.coding.every(isObject))) return cleaned;
    return { ...cleaned, coding: Array.isArray(cleaned.coding) ? cleaned.coding.filter(isObject) : [] };
  }
  if (key === 'contained' && !Array.isArray(value)) return undefined;
  if (typeof value !== 'object') {
    if (depth > MAX_DEPTH) throw tooDeep();
    return value;
  }
  return cleanValue(value, depth);
}

function cleanValue(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw tooDeep();
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const cleaned = item === null || (typeof item === 'string' && blank(item)) ? undefined : cleanValue(item, depth + 1);
      if (cleaned !== item && !out) out = value.slice(0, i);
      if (out && cleaned !== undefined) out.push(cleaned);
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key in obj) {
    if (!Object.hasOwn(obj, key)) continue;
    const item = obj[key];
    if (isPrototypeKey(key, item)) throw poisoned();
    const cleaned = cleanField(key, item, depth + 1);
    if (cleaned === item) continue;
    out ??= { ...obj };
    if (cleaned === undefined) delete out[key];
    else out[key] = cleaned;
  }
  return out ?? value;
}

/**
 * EHR data arrives malformed every day. The criteria are evaluated one by one, each failure becoming that
 * criterion's `unknown` (house rule 7), but the record's index and the cards read some fields outside that
 * guard; those are made safe here. A value of the wrong JSON type reads as absent, so the criteria that
 * need it stay unknown (or unmet, as for any record the code lists do not recognise), never met by accident.
 */
export function readableResource(r: Resource): Resource {
  return cleanValue(r, 0) as Resource;
}

/**
 * A Bundle whose resources are made readable as the hook path makes prefetch readable (issue #12 item 5:
 * POST /trials/$evaluate answered 500 to malformed resources the hook path cleans). Entries without a
 * resource object are dropped.
 */
export function readableBundle<B extends { entry?: { resource?: Resource }[] }>(bundle: B): B {
  const entry = (bundle.entry ?? []).flatMap((e) => (isObject(e) && isObject(e.resource) ? [{ ...e, resource: readableResource(e.resource as Resource) }] : []));
  return { ...bundle, entry };
}
