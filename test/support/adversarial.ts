import type { Bundle, Observation, Resource } from '@medplum/fhirtypes';
import { exampleBundle } from './app.js';

/**
 * The adversarial record data of issue #12 item 2, as real FHIR bundles: each takes the example patient's
 * laboratory results (the criteria read them) and puts the hostile value in the place the evaluator reads.
 * Shared by the property test (test/security/bounded-work.test.ts) and bench/adversarial.ts.
 */
export type AdversarialKind = 'valueString-spaces' | 'ucum-unit' | 'huge-display' | 'trailing-dots' | 'deep-nesting' | 'many-units';

export const ADVERSARIAL_KINDS: readonly AdversarialKind[] = ['valueString-spaces', 'ucum-unit', 'huge-display', 'trailing-dots', 'deep-nesting', 'many-units'];

function nested(depth: number): unknown {
  let v: unknown = { url: 'urn:x', valueString: 'leaf' };
  for (let i = 0; i < depth; i++) v = { url: 'urn:x', extension: [v] };
  return v;
}

/** One hostile bundle; `scale` (0..1] shrinks the payloads for quick runs. */
export function adversarialBundle(kind: AdversarialKind, scale = 1): Bundle {
  const bundle = exampleBundle('sle-child-likely');
  const n = (bytes: number) => Math.max(16, Math.floor(bytes * scale));
  const obs = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation');
  const hostile = (o: Observation, i: number): Resource => {
    switch (kind) {
      case 'valueString-spaces': {
        const { valueQuantity: _q, valueCodeableConcept: _c, ...rest } = o;
        return { ...rest, valueString: `${' '.repeat(n(135 * 1024))}x` };
      }
      case 'trailing-dots': {
        const { valueQuantity: _q, valueCodeableConcept: _c, ...rest } = o;
        return { ...rest, valueString: `${'.'.repeat(n(135 * 1024))}x`, valueCodeableConcept: { text: `${'!'.repeat(n(64 * 1024))}a` } };
      }
      case 'ucum-unit':
        return { ...o, valueQuantity: { value: 12, unit: 'g.'.repeat(n(32 * 1024)), system: 'http://unitsofmeasure.org', code: 'g.'.repeat(n(32 * 1024)) } };
      case 'many-units':
        // A different long unit on every result: no cache hit helps; only the cap does.
        return { ...o, valueQuantity: { value: 12, unit: `${'U/'.repeat(n(32 * 1024))}${i}`, system: 'http://unitsofmeasure.org', code: `${'U/'.repeat(n(32 * 1024))}${i}` } };
      case 'huge-display':
        return { ...o, code: { ...o.code, text: undefined, coding: (o.code?.coding ?? []).map((c) => ({ ...c, display: `${'lupus '.repeat(n(200 * 1024) / 6)}` })) } as Observation['code'] };
      case 'deep-nesting':
        return { ...o, extension: [nested(Math.max(120, Math.floor(1000 * scale)))] } as Observation;
    }
  };
  let i = 0;
  return { ...bundle, entry: (bundle.entry ?? []).map((e) => (e.resource?.resourceType === 'Observation' && obs.includes(e.resource) ? { ...e, resource: hostile(e.resource, i++) } : e)) };
}
