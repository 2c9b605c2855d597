import type { CompiledTrial } from '../engine/compiled.js';
import type { SiteStatusStore } from '../store/shared-state.js';
import { loadRegistryRecords } from './ctgov-record.js';
import { SiteInfo } from './site-info.js';
import { loadSiteFile } from './site-file.js';

export interface SiteInfoSetup {
  siteInfo: SiteInfo;
  /** The site's name from the site file, for ResearchStudy.site and the apps. */
  siteName?: string;
  /** ClinicalTrials.gov records ignored because the protocol document is newer (logged at start). */
  olderRecords: string[];
}

/**
 * The site file and the dropped-in registry records, read and checked at start (a mistake stops the service
 * naming the file), with the store the coordinators' changes are kept in.
 */
export function openSiteInfo(trials: readonly CompiledTrial[], options: { siteFile?: string | undefined; registryRecordsDir?: string | undefined }, store: SiteStatusStore): SiteInfoSetup {
  const site = options.siteFile ? loadSiteFile(options.siteFile, trials) : undefined;
  const registry = options.registryRecordsDir ? loadRegistryRecords(options.registryRecordsDir, trials) : undefined;
  const siteInfo = new SiteInfo({
    trials,
    ...(site ? { siteFile: site.trials } : {}),
    ...(registry ? { registryRecords: registry.records } : {}),
    store,
  });
  return { siteInfo, ...(site ? { siteName: site.site } : {}), olderRecords: registry?.older ?? [] };
}
