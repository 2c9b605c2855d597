import type { SharedState } from '../store/shared-state.js';
import { rankWorklist, type Worklist } from './worklist.js';

/**
 * A trial's worklist from the shared state, holding only the patients of the FHIR servers the caller may see
 * (a coordinator of one hospital's server never sees another's patients), ranked.
 */
export async function loadWorklist(state: Pick<SharedState, 'screening' | 'patientStates'>, trialId: string, maySee: (fhirServer: string) => boolean): Promise<Worklist> {
  const [entries, states] = await Promise.all([state.screening.forTrial(trialId), state.patientStates.forTrial(trialId)]);
  return rankWorklist(
    trialId,
    entries.filter((e) => maySee(e.fhirServer)),
    states.filter((s) => maySee(s.fhirServer)),
  );
}

/** The counts a trial picker shows. */
export function worklistCounts(worklist: Worklist): { candidates: number; likely: number; possibly: number; new: number } {
  const c = worklist.candidates;
  return {
    candidates: c.length,
    likely: c.filter((x) => x.entry.status === 'likely-eligible').length,
    possibly: c.filter((x) => x.entry.status === 'possibly-eligible').length,
    new: c.filter((x) => x.entry.isNew).length,
  };
}
