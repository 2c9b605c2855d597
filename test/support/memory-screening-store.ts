import type { ScreeningEntry, ScreeningResultsStore } from '../../src/population/screening-entry.js';

/**
 * The contract's ScreeningResultsStore in memory, for the population job's tests until the shared state carries
 * one ("coord" owns the real ones): upsert by (fhirServer, trialId, patientId), `isNew` when no likely or
 * possibly eligible entry was held for the key before. `puts` counts every entry written, so a test can see
 * that a patient was screened once.
 */
export class MemoryScreeningStore implements ScreeningResultsStore {
  readonly entries = new Map<string, ScreeningEntry>();
  readonly puts: Omit<ScreeningEntry, 'isNew'>[] = [];

  async put(entries: readonly Omit<ScreeningEntry, 'isNew'>[]): Promise<ScreeningEntry[]> {
    return entries.map((e) => {
      this.puts.push(e);
      const key = `${e.fhirServer}|${e.trialId}|${e.patientId}`;
      const before = this.entries.get(key);
      const wasCandidate = before !== undefined && before.status !== 'ineligible';
      const stored: ScreeningEntry = { ...e, isNew: e.status !== 'ineligible' && !wasCandidate };
      this.entries.set(key, stored);
      return stored;
    });
  }

  async forTrial(trialId: string, fhirServer?: string): Promise<ScreeningEntry[]> {
    return [...this.entries.values()].filter((e) => e.trialId === trialId && (!fhirServer || e.fhirServer === fhirServer));
  }

  async digests(fhirServer: string, patientIds: readonly string[]): Promise<Map<string, string>> {
    const wanted = new Set(patientIds);
    const out = new Map<string, string>();
    for (const e of this.entries.values()) if (e.fhirServer === fhirServer && wanted.has(e.patientId)) out.set(e.patientId, e.dataDigest);
    return out;
  }
}
