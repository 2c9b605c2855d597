import type pg from 'pg';
import type { SiteStatusSetting, SiteStatusStore } from '../shared-state.js';
import type { SiteStatus } from '../../trials/site-info.js';

/**
 * The site's status per trial on PostgreSQL (migrations/006_site_status.sql): every change is a row, the
 * newest row per trial holds, so two replicas answer alike the moment one of them stores a change.
 */
export class PostgresSiteStatusStore implements SiteStatusStore {
  constructor(private readonly pool: pg.Pool) {}

  async current(): Promise<Map<string, SiteStatusSetting>> {
    const { rows } = await this.pool.query<{ trial_id: string; status: SiteStatus; reason: string | null; set_at: Date; issuer: string; subject: string }>(
      'select distinct on (trial_id) trial_id, status, reason, set_at, issuer, subject from site_status order by trial_id, id desc',
    );
    return new Map(rows.map((r) => [r.trial_id, { trialId: r.trial_id, status: r.status, ...(r.reason ? { reason: r.reason } : {}), at: r.set_at, issuer: r.issuer, subject: r.subject }]));
  }

  async set(s: SiteStatusSetting): Promise<void> {
    await this.pool.query('insert into site_status (trial_id, status, reason, set_at, issuer, subject) values ($1, $2, $3, $4, $5, $6)', [s.trialId, s.status, s.reason ?? null, s.at, s.issuer, s.subject]);
  }
}
