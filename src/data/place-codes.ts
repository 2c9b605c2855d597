import type { ClinicalResource, ClinicalType, PatientRecord } from '../patient/patient-record.js';
import { placeWithServer, type ServerPlacementDeps, type ServerPlacementPlan } from '../terminology/server-placements.js';

/** A site's terminology server, with what the service asks it and how (src/terminology/server-placements.ts). */
export interface TerminologyServerUse {
  plan: ServerPlacementPlan;
  deps: ServerPlacementDeps;
}

/**
 * The record with its codes placed in lists from outside the lists' own codes (issue #17 item 3), before
 * evaluation so the evaluator stays pure: the site's ConceptMap (worked out at start-up) for the codes it
 * holds, and the site's terminology server for the codes that can matter. The server never fails the hook.
 */
export async function placeRecordCodes(record: PatientRecord, localPlacements: ReadonlyMap<string, ReadonlySet<string>>, server: TerminologyServerUse | undefined): Promise<PatientRecord> {
  const local = withLocalPlacements(record, localPlacements);
  if (!server) return local;
  let fromServer: Map<string, Set<string>>;
  try {
    fromServer = await placeWithServer(record.byCode, server.plan, server.deps);
  } catch {
    // placeWithServer settles every failure itself; this guard keeps a defect there from failing the hook.
    server.deps.observe?.unsettled?.('failed', 1);
    return local;
  }
  if (fromServer.size === 0) return local;
  const placements = new Map<string, ReadonlySet<string>>(local.placements ?? []);
  for (const [key, lists] of fromServer) placements.set(key, new Set([...(placements.get(key) ?? []), ...lists]));
  return withPlacements(record, placements);
}

/** The record with the ConceptMap's placements of the codes it holds (no I/O: the map was read at start-up). */
export function withLocalPlacements(record: PatientRecord, localPlacements: ReadonlyMap<string, ReadonlySet<string>>): PatientRecord {
  if (localPlacements.size === 0) return record;
  let placements: Map<string, ReadonlySet<string>> | undefined;
  for (const key of record.byCode.keys()) {
    const lists = localPlacements.get(key);
    if (lists) (placements ??= new Map()).set(key, lists);
  }
  return placements ? withPlacements(record, placements) : record;
}

/**
 * The record with `placements`; an item whose code is now placed (a local code the ConceptMap or the
 * server's $translate read) is no longer among the items the service cannot place (PatientRecord.unplaced).
 */
function withPlacements(record: PatientRecord, placements: ReadonlyMap<string, ReadonlySet<string>>): PatientRecord {
  const placed = new Set<ClinicalResource>();
  for (const key of placements.keys()) for (const r of record.byCode.get(key) ?? []) placed.add(r);
  const unplaced = new Map<ClinicalType, readonly ClinicalResource[]>();
  for (const [type, items] of record.unplaced) {
    const left = items.filter((r) => !placed.has(r));
    if (left.length > 0) unplaced.set(type, left);
  }
  return { ...record, placements, unplaced };
}
