import { createServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulkClient } from '../../src/bulk/bulk-client.js';
import { groupPatientIds, newGroupMembers } from '../../src/bulk/group-members.js';
import { testApp } from '../support/app.js';
import { closeServer, listen } from '../support/loopback.js';
import { exampleEntries } from '../support/screening-store-contract.js';

// Issue #19 item 1: an incremental Group job also exports, whole, the Group's members this server's screening
// has never seen (a _since export leaves out a new member's older data). The FHIR server is a stand-in that
// answers the Group search; the screening store is the app's own.
describe('the Group\'s new members', () => {
  let server: Server;
  let base = '';
  let app: FastifyInstance;
  const searches: string[] = [];
  const group = {
    resourceType: 'Group',
    id: 'cohort',
    type: 'person',
    actual: true,
    member: [
      { entity: { reference: 'Patient/sle-child-likely' } },
      { entity: { reference: 'Patient/sle-teen-missing-tests' } },
      { entity: { reference: 'http://elsewhere.example/fhir/Patient/adult-no-sle' } },
      { entity: { reference: 'Patient/left-the-group' }, inactive: true },
      { entity: { reference: 'Group/nested' } },
    ],
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      searches.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      const found = /[?&]_id=cohort(&|$)/.test(req.url ?? '');
      res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: found ? [{ resource: group }] : [] }));
    });
    base = `${await listen(server)}/fhir`;
    app = testApp();
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await closeServer(server);
  });

  const client = (): BulkClient => new BulkClient({ baseUrl: base, requestTimeoutMs: 5000, minPollMs: 10, maxPollMs: 100, jobTimeoutMs: 10_000, maxFileBytes: 1_000_000 });

  it('reads the active Patient members of a Group, relative or absolute, once each', () => {
    expect(groupPatientIds(group)).toEqual(['sle-child-likely', 'sle-teen-missing-tests', 'adult-no-sle']);
    expect(groupPatientIds({ member: [{ entity: { reference: 'Patient/a' } }, { entity: { reference: 'Patient/a/_history/2' } }] })).toEqual(['a']);
  });

  it('answers the members never screened for this server, only for an incremental Group job', async () => {
    await app.state.screening.put(exampleEntries('sle-child-likely', 'job-1', 'digest-a', base));
    // Screened for another server: still new here.
    await app.state.screening.put(exampleEntries('sle-teen-missing-tests', 'job-1', 'digest-b', 'http://other.example/fhir'));
    const job = { fhirServer: base, scope: { kind: 'group' as const, groupId: 'cohort' }, since: '2026-11-01T00:00:00Z' };
    expect(await newGroupMembers(job, client(), app.state.screening)).toEqual(['sle-teen-missing-tests', 'adult-no-sle']);
    expect(searches.at(-1)).toBe('/fhir/Group?_id=cohort&_count=1');
    const asked = searches.length;
    // A full job exports every member anyway; a Patient-level job has no Group.
    expect(await newGroupMembers({ ...job, since: undefined }, client(), app.state.screening)).toEqual([]);
    expect(await newGroupMembers({ fhirServer: base, scope: { kind: 'patients' }, since: job.since }, client(), app.state.screening)).toEqual([]);
    expect(searches.length).toBe(asked);
  });

  it('fails the job when the Group cannot be read (never screens fewer patients silently)', async () => {
    const job = { fhirServer: base, scope: { kind: 'group' as const, groupId: 'gone' }, since: '2026-11-01T00:00:00Z' };
    await expect(newGroupMembers(job, client(), app.state.screening)).rejects.toThrow('Group/gone could not be read');
  });
});
