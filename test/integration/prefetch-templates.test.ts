/**
 * The prefetch templates the discovery document advertises are what an EHR runs for us (CDS Hooks 2.0
 * §Prefetch template): each must be a valid search on a real FHIR server and return only the patient's own
 * resources. Two patients are loaded so that a template that ignored the patient would show it.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { fillTemplate } from '../../src/data/prefetch-key.js';
import { testApp } from '../support/app.js';
import { examplePatients, fhirBaseUrl, loadIntoHapi, skipNote } from './hapi-support.js';

function ownerOf(r: Resource): string | undefined {
  if (r.resourceType === 'Patient') return r.id;
  const ref = (r as { subject?: { reference?: string }; patient?: { reference?: string } }).subject?.reference ?? (r as { patient?: { reference?: string } }).patient?.reference;
  return ref?.replace(/^Patient\//, '');
}

/**
 * Runs a filled template against HAPI as an EHR would (the template's `|` percent-encoded for the wire, as
 * RFC 3986 wants and HAPI's Tomcat insists on) and follows its pages.
 */
async function runTemplate(template: string): Promise<{ status: number; resources: Resource[]; body: any }> {
  const url = new URL(template, `${fhirBaseUrl}/`);
  url.search = url.search.replaceAll('|', '%7C');
  let res = await fetch(url, { headers: { accept: 'application/fhir+json' } });
  const status = res.status;
  const first = (await res.json()) as Resource;
  if (first.resourceType !== 'Bundle') return { status, resources: [first], body: first };
  const resources: Resource[] = [];
  let bundle: Bundle = first;
  for (;;) {
    resources.push(...(bundle.entry ?? []).map((e) => e.resource!).filter((r) => r.resourceType !== 'OperationOutcome'));
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (!next) break;
    res = await fetch(next, { headers: { accept: 'application/fhir+json' } });
    expect(res.status).toBe(200);
    bundle = (await res.json()) as Bundle;
  }
  return { status, resources, body: first };
}

describe.skipIf(!fhirBaseUrl)(`discovery prefetch templates on HAPI FHIR${skipNote}`, () => {
  const ids = ['sle-child-likely', 'sle-child-hiv-positive'];
  let app: FastifyInstance;
  let templates: Record<string, string>;
  beforeAll(async () => {
    await loadIntoHapi(examplePatients().filter((p) => ids.includes(p.id)).map((p) => p.bundle));
    app = testApp();
    await app.ready();
    templates = (await app.inject({ method: 'GET', url: '/cds-services' })).json().services[0].prefetch;
  });
  afterAll(() => app?.close());

  it('runs every template with the patient filled in: 200, and only that patient’s resources', async () => {
    expect(Object.keys(templates).length).toBe(9);
    for (const id of ids) {
      const expected = examplePatients().find((p) => p.id === id)!.bundle.entry!.map((e) => e.resource!);
      for (const [key, template] of Object.entries(templates)) {
        const { status, resources, body } = await runTemplate(fillTemplate(template, { patientId: id }));
        expect(status, `${key}: ${JSON.stringify(body).slice(0, 300)}`).toBe(200);
        for (const r of resources) expect(ownerOf(r), `${key} for ${id}: ${r.resourceType}/${r.id}`).toBe(id);
        // Not vacuous: each template finds what the example holds of its type (Observations: the asked codes).
        const type = template.split(/[/?]/)[0];
        const held = expected.filter((r) => r.resourceType === type).length;
        if (type === 'Observation') expect(resources.length, key).toBeGreaterThan(0);
        else expect(resources.length, `${key} for ${id}`).toBe(held);
      }
    }
  });

  it('asks for Observations by system|code and gets them newest first', async () => {
    const { resources } = await runTemplate(fillTemplate(templates.observations!, { patientId: 'sle-child-likely' }));
    const dates = resources.map((r) => (r as { effectiveDateTime?: string }).effectiveDateTime ?? '');
    expect(dates).toEqual([...dates].sort().reverse());
    // The example's Observations are all of codes a criterion reads, so the code filter keeps every one.
    const all = examplePatients().find((p) => p.id === 'sle-child-likely')!.bundle.entry!.filter((e) => e.resource?.resourceType === 'Observation');
    expect(resources.length).toBe(all.length);
  });
});
