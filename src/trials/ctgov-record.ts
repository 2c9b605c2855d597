import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { CompiledTrial } from '../engine/compiled.js';
import { REGISTRY_STATUSES, newerAsOf, registryStatusText, type RegistryStatus } from './registry-status.js';

/**
 * A ClinicalTrials.gov API v2 study record a site drops in (REGISTRY_RECORDS_DIR) to refresh a trial's
 * registry status (issue #19 item 3): what `GET https://clinicaltrials.gov/api/v2/studies/{nctId}` answers,
 * saved as a file. Only the fields read here are checked; the rest of the record is left as it is. Shape:
 * https://clinicaltrials.gov/data-api/about-api/study-data-structure (protocolSection.identificationModule.nctId,
 * protocolSection.statusModule.overallStatus, statusVerifiedDate as YYYY-MM, lastUpdatePostDateStruct.date).
 */
const partialDate = z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/);

export const ctgovStudySchema = z
  .object({
    protocolSection: z
      .object({
        identificationModule: z.object({ nctId: z.string().regex(/^NCT\d{8}$/) }).loose(),
        statusModule: z
          .object({
            overallStatus: z.enum(REGISTRY_STATUSES),
            statusVerifiedDate: partialDate.optional(),
            lastUpdatePostDateStruct: z.object({ date: partialDate }).loose().optional(),
          })
          .loose(),
      })
      .loose(),
  })
  .loose();

export type CtgovStudy = z.infer<typeof ctgovStudySchema>;

/** The registry status a record gives: its overall status as of its verification date. */
export function registryStatusFromCtgov(study: CtgovStudy, file: string): RegistryStatus {
  const s = study.protocolSection.statusModule;
  return {
    status: s.overallStatus,
    asPrinted: registryStatusText(s.overallStatus),
    ...(s.statusVerifiedDate ? { asOf: s.statusVerifiedDate } : {}),
    source: `ClinicalTrials.gov record ${file}`,
    ...(s.lastUpdatePostDateStruct ? { lastUpdate: s.lastUpdatePostDateStruct.date } : {}),
  };
}

/**
 * Every `*.json` in the folder, each a study record for a trial the mappings hold (by NCT number). A record
 * replaces the trial file's status when it was verified on or after the document's date (or the document
 * gives none); an older one is ignored and reported. A file that is not a study record, or names no trial,
 * stops the service naming it.
 */
export function loadRegistryRecords(dir: string, trials: readonly CompiledTrial[]): { records: Map<string, RegistryStatus>; older: string[] } {
  if (!existsSync(dir)) throw new Error(`${dir}: REGISTRY_RECORDS_DIR not found`);
  const byNct = new Map(trials.filter((t) => t.nctId).map((t) => [t.nctId as string, t]));
  const records = new Map<string, RegistryStatus>();
  const older: string[] = [];
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const file = join(dir, name);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file}: not JSON: ${(err as Error).message}`);
    }
    const parsed = ctgovStudySchema.safeParse(raw);
    if (!parsed.success) throw new Error(`${file}: not a ClinicalTrials.gov API v2 study record: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const nctId = parsed.data.protocolSection.identificationModule.nctId;
    const trial = byNct.get(nctId);
    if (!trial) throw new Error(`${file}: ${nctId} is none of the trials' NCT numbers`);
    const status = registryStatusFromCtgov(parsed.data, name);
    const current = records.get(trial.id) ?? { asOf: trial.registryStatus.asOf };
    if (newerAsOf(status.asOf, current.asOf) || current.asOf === undefined) records.set(trial.id, status);
    else older.push(`${name} (${nctId}, verified ${status.asOf ?? 'never'})`);
  }
  return { records, older };
}
