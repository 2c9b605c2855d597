import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { handlePatientView } from '../../src/cds/handle-patient-view.js';
import { hookRequestSchema, type HookRequest } from '../../src/cds/hook-request.js';
import type { ServiceDefinition } from '../../src/cds/service-definition.js';
import { OperationOutcomeError } from '../../src/fhir/outcomes.js';
import { statusOf } from '../../src/http/error-handler.js';
import { FhirServerAllowlist, NO_FHIR_SERVERS } from '../../src/security/fhir-server-allowlist.js';
import { exampleBundle, testApp } from '../support/app.js';
import { hookRequest, patientIdOf } from '../support/hook-request.js';
import { fhirFromBundle, startServer, type RecordingServer } from './helpers.js';

/**
 * The FHIR-server policy is a required argument of handlePatientView (fail closed, issue #13): a caller other
 * than the HTTP routes (a script, the bench, a future queue worker) cannot leave it out and so skip the check.
 */
describe('handlePatientView without the HTTP layer', () => {
  let app: FastifyInstance;
  let fhir: RecordingServer;
  let service: ServiceDefinition;
  let request: HookRequest;
  const bundle = exampleBundle('sle-child-likely');

  beforeAll(async () => {
    app = testApp();
    await app.ready();
    fhir = await startServer(fhirFromBundle(bundle));
    service = app.services[0]!;
    request = hookRequestSchema.parse(hookRequest(patientIdOf(bundle), { fhirServer: `${fhir.url}/fhir` }));
  });
  afterAll(async () => {
    await app.close();
    await fhir.close();
  });

  it('refuses a fhirServer the policy does not allow with a 403 outcome, and calls it not once', async () => {
    const refused = await handlePatientView(service, request, app.engine, app.clock(), { fhirServers: NO_FHIR_SERVERS }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OperationOutcomeError);
    const { outcome } = refused as OperationOutcomeError;
    expect(outcome.issue?.[0]).toMatchObject({ code: 'forbidden', expression: ['fhirServer'] });
    expect(statusOf(outcome)).toBe(403);
    expect(fhir.calls).toEqual([]);
  });

  it('reads the record from a fhirServer the policy allows', async () => {
    const result = await handlePatientView(service, request, app.engine, app.clock(), { fhirServers: new FhirServerAllowlist(['http://127.0.0.1:*']) });
    expect(fhir.calls.length).toBeGreaterThan(0);
    expect(result.provenance.every((p) => p.origin === 'fhir-server')).toBe(true);
    expect(result.cards.length).toBeGreaterThan(0);
  });

  it('cannot be called without a policy (a type error, checked by npm run typecheck)', async () => {
    // @ts-expect-error -- the policy argument is required: leaving it out must not compile.
    const call = (): Promise<unknown> => handlePatientView(service, request, app.engine, app.clock());
    // Forced past the compiler, the call fails rather than fetching unchecked.
    const before = fhir.calls.length;
    await expect(call()).rejects.toThrow(TypeError);
    expect(fhir.calls.length).toBe(before);
  });
});
