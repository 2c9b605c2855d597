import { randomUUID } from 'node:crypto';
import type { Bundle } from '@medplum/fhirtypes';

export { prefetchFromBundle as prefetchFor } from '../../src/examples/example-patients.js';

export function patientIdOf(bundle: Bundle): string {
  const p = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource;
  if (!p?.id) throw new Error('bundle has no Patient id');
  return p.id;
}

export function hookRequest(patientId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context: { userId: 'Practitioner/example', patientId },
    ...extra,
  };
}
