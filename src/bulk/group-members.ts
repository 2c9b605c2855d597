import type { Group } from '@medplum/fhirtypes';
import type { ScreeningResultsStore } from '../population/screening-entry.js';
import type { BulkClient } from './bulk-client.js';
import type { ScreeningJob } from './screening-job.js';

/** Patients per question to the screening store (a bounded statement, whatever the Group's size). */
const IDS_PER_LOOKUP = 1000;

/**
 * The Group's members this server's screening has never seen (issue #19 item 1, incremental re-screening).
 * A `Group/{id}/$export` with `_since` holds only resources changed since then; Bulk Data 2.0 (§Query
 * Parameters, `_since`) leaves to the server whether a member added to the Group after that time comes with
 * its older data, and HAPI does not send it. So an incremental job of a Group reads the Group itself and
 * returns its current members with no screening result for this server: the job exports them whole (the
 * kick-off's `patient` parameter, as for the changed patients), and the store marks them new.
 *
 * The previous membership is the screening store's: a patient screened before (by this Group's earlier job,
 * or another job of the same server) has a data digest there, and its changes since come in the `_since`
 * export. Members marked `inactive` (FHIR R4 Group.member.inactive: "no longer in the group") are left out;
 * a member that is not a Patient (a nested Group, a Device) is too. No patient data is logged or kept.
 */
export async function newGroupMembers(job: Pick<ScreeningJob, 'scope' | 'since' | 'fhirServer'>, client: Pick<BulkClient, 'searchByIds'>, screening: Pick<ScreeningResultsStore, 'digests'>): Promise<string[]> {
  if (job.scope.kind !== 'group' || !job.since) return [];
  const [group] = await client.searchByIds<Group>('Group', [job.scope.groupId]);
  // The export of the Group itself succeeded, so a Group the search cannot find is the server's fault: fail loudly.
  if (!group) throw new Error(`Group/${job.scope.groupId} could not be read to find its new members`);
  const members = groupPatientIds(group);
  const fresh: string[] = [];
  for (let i = 0; i < members.length; i += IDS_PER_LOOKUP) {
    const part = members.slice(i, i + IDS_PER_LOOKUP);
    const known = await screening.digests(job.fhirServer, part);
    for (const id of part) if (!known.has(id)) fresh.push(id);
  }
  return fresh;
}

/** The Patient ids a Group's active members reference (relative `Patient/x` or absolute `…/Patient/x`), once each. */
export function groupPatientIds(group: Pick<Group, 'member'>): string[] {
  const ids = new Set<string>();
  for (const m of group.member ?? []) {
    if (m.inactive === true) continue;
    const match = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(m.entity.reference ?? '');
    if (match) ids.add(match[1]!);
  }
  return [...ids];
}
