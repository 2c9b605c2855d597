import type { CompiledValueSet } from '../terminology/value-set.js';
import type { CompiledTrial, EngineValueSets } from '../engine/compiled.js';
import type { Orderables } from './orderables.js';

/** What the loader hands the service: the compiled trials, every code list, and the engine's own lists. */
export interface MappingSet {
  trials: CompiledTrial[];
  valueSets: ReadonlyMap<string, CompiledValueSet>;
  engine: EngineValueSets;
  /** The tests that settle unknown criteria, by trial and part (fhir-mappings/orderables.json). */
  orderables: Orderables;
}
