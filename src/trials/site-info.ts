import type { CompiledTrial } from '../engine/compiled.js';
import type { SiteStatusSetting, SiteStatusStore } from '../store/shared-state.js';
import { registryOpen, registryStale, registryStatusText, type RegistryStatus } from './registry-status.js';

/**
 * What the site says about each trial (issue #19 item 3): its own status, which a coordinator changes at run
 * time (kept in the shared state, so every replica sees it at once), and its study contact (the site file).
 * Card rendering, the evaluation answer, the SMART app, ResearchStudy and the coordinator's worklist ask
 * here whether a trial recruits at this site and whom to contact. This is about the trial, never the patient:
 * a trial that does not recruit gives no card for anyone, and the apps say why.
 */

/** The site's study contact for a trial (from the site file). */
export interface StudyContact {
  name: string;
  role: string;
  phone?: string;
  email?: string;
}

export const SITE_STATUSES = ['open', 'paused', 'closed', 'not-participating'] as const;
export type SiteStatus = (typeof SITE_STATUSES)[number];

export interface SiteStatusNow {
  status: SiteStatus;
  /** Where it comes from: a coordinator's change, the site file, or no site file at all (open). */
  source: 'coordinator' | 'site-file' | 'not-configured';
  /** A coordinator's change: when, by whom (the client's `sub`, else its issuer), and the reason given. */
  setAt?: string;
  setBy?: string;
  reason?: string;
}

export interface RegistryStatusNow extends RegistryStatus {
  /** Not verified in 12 months, or no date at all: shown as possibly stale. */
  stale: boolean;
  /** The status and its date in words ("Recruiting, as of 2025-11-14 (protocol document)"). */
  text: string;
}

/** Whether, and why not, a trial recruits at this site now. */
export interface TrialAvailability {
  trialId: string;
  /** The registry is open to enrolment and the site is open: cards are shown. */
  recruiting: boolean;
  /** Why no card is shown, in words (absent while recruiting). */
  why?: string;
  registry: RegistryStatusNow;
  site: SiteStatusNow;
  contact?: StudyContact;
}

/** The site file's settings for one trial (src/trials/site-file.ts). */
export interface SiteTrialSettings {
  status: SiteStatus;
  contact?: StudyContact;
}

export interface SiteInfoOptions {
  trials: readonly CompiledTrial[];
  /** Per trial id: the site file's default status and contact; undefined when no SITE_FILE is given. */
  siteFile?: ReadonlyMap<string, SiteTrialSettings>;
  /** Per trial id: a newer registry status than the trial file's (a site's ClinicalTrials.gov record). */
  registryRecords?: ReadonlyMap<string, RegistryStatus>;
  store: SiteStatusStore;
}

const SITE_STATUS_WORDS: Record<SiteStatus, string> = {
  open: 'open',
  paused: 'paused at this site',
  closed: 'closed at this site',
  'not-participating': 'this site does not take part',
};

/** The registry status in words with its date and source. */
function registryText(r: RegistryStatus): string {
  const printed = r.asPrinted === registryStatusText(r.status) ? r.asPrinted : `${r.asPrinted} (${registryStatusText(r.status)})`;
  return `${printed}, ${r.asOf ? `as of ${r.asOf}` : 'no date given'} (${r.source})`;
}

/** The trial's registry status from its file, unless the site gave a ClinicalTrials.gov record for it. */
export function registryStatusOf(trial: CompiledTrial, records?: ReadonlyMap<string, RegistryStatus>): RegistryStatus {
  const dropped = records?.get(trial.id);
  if (dropped) return dropped;
  const r = trial.registryStatus;
  return { status: r.status, asPrinted: r.asPrinted, ...(r.asOf !== undefined ? { asOf: r.asOf } : {}), source: 'protocol document' };
}

/** Pure: one trial's availability from its registry status, the site file and the coordinator's setting. */
export function trialAvailability(trial: CompiledTrial, options: Omit<SiteInfoOptions, 'store' | 'trials'>, setting: SiteStatusSetting | undefined, now: Date): TrialAvailability {
  const registry = registryStatusOf(trial, options.registryRecords);
  const fromFile = options.siteFile?.get(trial.id);
  const site: SiteStatusNow = setting
    ? { status: setting.status, source: 'coordinator', setAt: setting.at.toISOString(), setBy: setting.subject, ...(setting.reason ? { reason: setting.reason } : {}) }
    : fromFile
      ? { status: fromFile.status, source: 'site-file' }
      : { status: 'open', source: 'not-configured' };
  const open = registryOpen(registry.status);
  const reasons: string[] = [];
  if (!open) reasons.push(`the registry says "${registry.asPrinted}" (${registry.asOf ? `as of ${registry.asOf}, ` : ''}${registry.source})`);
  if (site.status !== 'open') {
    const since = site.setAt ? ` since ${site.setAt.slice(0, 10)}` : '';
    reasons.push(`${SITE_STATUS_WORDS[site.status]}${since}${site.reason ? ` (${site.reason})` : ''}`);
  }
  const recruiting = reasons.length === 0;
  return {
    trialId: trial.id,
    recruiting,
    ...(recruiting ? {} : { why: `Not recruiting here: ${reasons.join('; ')}. No card is shown for this trial.` }),
    registry: { ...registry, stale: registryStale(registry, now), text: registryText(registry) },
    site,
    ...(fromFile?.contact ? { contact: fromFile.contact } : {}),
  };
}

/**
 * The service's one view of the trials at this site: the site file and registry records are fixed at start,
 * the coordinator's settings are read from the shared state on every call (no restart, every replica alike).
 */
export class SiteInfo {
  constructor(private readonly options: SiteInfoOptions) {}

  /** Every trial's availability now, in the mappings' order. */
  async availability(now: Date): Promise<Map<string, TrialAvailability>> {
    const settings = await this.options.store.current();
    return new Map(this.options.trials.map((t) => [t.id, trialAvailability(t, this.options, settings.get(t.id), now)]));
  }

  /** Whether the trial recruits at this site now (the worklist asks this per trial). */
  async recruitingHere(trialId: string, now: Date): Promise<boolean> {
    return (await this.availability(now)).get(trialId)?.recruiting ?? false;
  }

  /** The site's study contact for the trial, from the site file. */
  contactOf(trialId: string): StudyContact | undefined {
    return this.options.siteFile?.get(trialId)?.contact;
  }

  /** A coordinator's change, kept in the shared state; the caller audits it. */
  async setStatus(setting: SiteStatusSetting): Promise<void> {
    await this.options.store.set(setting);
  }

  hasTrial(trialId: string): boolean {
    return this.options.trials.some((t) => t.id === trialId);
  }
}

/** The contact in one line: "Dr A. Example (study coordinator), +1 555 0100, a.example@example.org". */
export function contactLine(c: StudyContact): string {
  return [`${c.name} (${c.role})`, c.phone, c.email].filter((x): x is string => Boolean(x)).join(', ');
}

/** The longest reason a coordinator may give for a change (kept in the shared state and shown in the apps). */
export const SITE_STATUS_REASON_MAX = 200;

/** Each trial's result with its availability beside it (`POST /trials/$evaluate`, the SMART app): the apps say why no card. */
export function withAvailability<T extends { trialId: string }>(items: readonly T[], availability: ReadonlyMap<string, TrialAvailability>): (T & { availability?: TrialAvailability })[] {
  return items.map((item) => {
    const a = availability.get(item.trialId);
    return a ? { ...item, availability: a } : item;
  });
}
