import { groupByPatient, type GroupCounts, type GroupOptions } from './group-by-patient.js';
import { patientCharLimit, screenPatientLines, type ScreenOptions, type ScreenSummary, type Sink } from './screen-patients.js';

/**
 * Screens the patients of NDJSON files (any mix of resource types, as a Bulk Data export gives them): the
 * files are streamed and grouped by patient within a bounded memory (src/population/group-by-patient.ts),
 * then screened on the worker threads. Lines that are not resources count as faults; resources no criterion
 * reads (Encounter, Claim) are not screened and do not count.
 */
export async function screenNdjsonFiles(files: readonly string[], options: ScreenOptions & { grouping?: GroupOptions }, sink: Sink): Promise<ScreenSummary> {
  const counts: GroupCounts = { lines: 0, unreadable: 0, skipped: 0 };
  // A patient over what a screening thread takes is measured in its bucket file and never decoded (tooLarge).
  const grouping: GroupOptions = { maxPatientBytes: patientCharLimit(options), ...options.grouping };
  const summary = await screenPatientLines(groupByPatient(files, counts, grouping), options, sink);
  return { ...summary, faults: summary.faults + counts.unreadable };
}
