import type { CompiledValueSet } from '../terminology/value-set.js';
import type { CompiledTrial, EngineValueSets } from '../engine/compiled.js';
import type { Orderables } from './orderables.js';
import type { ListReads } from './list-reads.js';

/** What places a record's code in a list beyond the lists' own codes (issue #17 item 3). */
export interface MappingTerminology {
  listReads: ListReads;
  /** A site's ConceptMap (LOCAL_CONCEPT_MAP_FILE): local `system|code` -> the lists it is placed in. */
  localPlacements: ReadonlyMap<string, ReadonlySet<string>>;
  /** Every local `system|code` the ConceptMap holds (placed or not): the terminology server is not asked for them. */
  localSources: ReadonlySet<string>;
}

/** What the loader hands the service: the compiled trials, every code list, and the engine's own lists. */
export interface MappingSet {
  trials: CompiledTrial[];
  valueSets: ReadonlyMap<string, CompiledValueSet>;
  engine: EngineValueSets;
  /** The tests that settle unknown criteria, by trial and part (fhir-mappings/orderables.json). */
  orderables: Orderables;
  terminology: MappingTerminology;
  /** Per code list, the units its codes are measured in (`codes[].unit`), for the unit checks of trial-checks.ts. */
  listUnits: ReadonlyMap<string, readonly string[]>;
  /**
   * The files it was loaded from, when loaded with the registered rule kinds: a population job's worker
   * threads load the same mappings from them (compiled rules hold functions, which cannot cross threads).
   */
  source?: MappingSource;
}

/** The files a MappingSet is loaded from (src/mappings/load-mappings.ts LoadOptions without test kinds). */
export interface MappingSource {
  dir: string;
  localCodesFile?: string;
  localConceptMapFile?: string;
}
