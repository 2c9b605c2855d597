/**
 * JSON bodies whose shape, not their size, costs a parser (issue #20 item 1), of about `bytes` bytes each.
 * Shared by the property test (test/security/adversarial-json.test.ts) and bench/adversarial.ts.
 */
export type AdversarialJsonKind = 'deep-arrays' | 'deep-objects' | 'many-keys' | 'many-values' | 'long-string';

export const ADVERSARIAL_JSON_KINDS: readonly AdversarialJsonKind[] = ['deep-arrays', 'deep-objects', 'many-keys', 'many-values', 'long-string'];

export function adversarialJson(kind: AdversarialJsonKind, bytes: number): Buffer {
  switch (kind) {
    case 'deep-arrays': {
      const n = Math.floor(bytes / 2);
      return Buffer.from(`${'['.repeat(n)}${']'.repeat(n)}`);
    }
    case 'deep-objects': {
      const n = Math.floor(bytes / 6);
      return Buffer.from(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
    }
    case 'many-keys': {
      // One object: the shape that made a V8 dictionary of 883,000 keys.
      const keys: string[] = [];
      let size = 2;
      for (let i = 0; size < bytes; i++) {
        const k = `"k${i}":1`;
        keys.push(k);
        size += k.length + 1;
      }
      return Buffer.from(`{${keys.join(',')}}`);
    }
    case 'many-values': {
      // Small objects side by side, none deep, none with many keys: a million costs JSON.parse 0.4 s.
      const n = Math.floor(bytes / 3);
      return Buffer.from(`{"hook":"patient-view","prefetch":[${'{},'.repeat(n)}{}]}`);
    }
    case 'long-string': {
      const hook = { hook: 'patient-view', hookInstance: '2f1a9c1e-5b4e-4c7e-9a57-1b0f0d3c9e11', context: { patientId: 'p-1', userId: 'Practitioner/1' }, prefetch: { patient: { resourceType: 'Patient', id: 'p-1', name: [{ text: '' }] } } };
      const text = JSON.stringify(hook);
      return Buffer.from(text.replace('"text":""', `"text":"${'lupus '.repeat(Math.max(1, Math.floor((bytes - text.length) / 6)))}"`));
    }
  }
}
