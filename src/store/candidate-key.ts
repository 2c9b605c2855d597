/** One key per (server, trial, patient): NUL cannot occur in a URL, a trial id or a FHIR id. */
export function candidateKey(fhirServer: string, trialId: string, patientId: string): string {
  return `${fhirServer}\u0000${trialId}\u0000${patientId}`;
}

/**
 * One item per (server, trial, patient), the last given winning, in the order of those last ones: a store's
 * put keeps one entry per key, and one SQL upsert cannot touch the same row twice.
 */
export function latestPerCandidate<T extends { fhirServer: string; trialId: string; patientId: string }>(items: readonly T[]): Map<string, T> {
  const last = new Map<string, T>();
  for (const item of items) {
    const key = candidateKey(item.fhirServer, item.trialId, item.patientId);
    last.delete(key);
    last.set(key, item);
  }
  return last;
}
