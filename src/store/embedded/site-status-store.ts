import type { SiteStatusSetting, SiteStatusStore } from '../shared-state.js';
import type { SiteStatusEntry } from './journal-entries.js';
import type { Journal } from './journal.js';

/**
 * The site's status per trial in this process (no DATABASE_URL), journaled and fsynced before the change is
 * acknowledged, so a restart keeps it; compaction keeps the newest setting per trial (the audit trail keeps
 * every change).
 */
export class EmbeddedSiteStatusStore implements SiteStatusStore {
  private readonly settings = new Map<string, SiteStatusSetting>();

  private journal: Journal | undefined;

  attach(journal: Journal): void {
    this.journal = journal;
  }

  replay(e: SiteStatusEntry): void {
    this.settings.set(e.trialId, settingOf(e));
  }

  async current(): Promise<Map<string, SiteStatusSetting>> {
    return new Map(this.settings);
  }

  async set(setting: SiteStatusSetting): Promise<void> {
    if (this.journal) {
      this.journal.append([entryOf(setting)]);
      await this.journal.sync();
    }
    this.settings.set(setting.trialId, setting);
  }

  *snapshot(): Generator<SiteStatusEntry> {
    for (const s of this.settings.values()) yield entryOf(s);
  }
}

function entryOf(s: SiteStatusSetting): SiteStatusEntry {
  return { t: 'site-status', trialId: s.trialId, status: s.status, ...(s.reason ? { reason: s.reason } : {}), at: s.at.toISOString(), issuer: s.issuer, subject: s.subject };
}

function settingOf(e: SiteStatusEntry): SiteStatusSetting {
  return { trialId: e.trialId, status: e.status, ...(e.reason ? { reason: e.reason } : {}), at: new Date(e.at), issuer: e.issuer, subject: e.subject };
}
