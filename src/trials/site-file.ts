import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { CompiledTrial } from '../engine/compiled.js';
import { SITE_STATUSES, type SiteTrialSettings } from './site-info.js';

/**
 * The site file (SITE_FILE, e.g. config/site.example.json): per trial, the site's default status and its
 * study contact (issue #19 item 3). Validated strictly at start: an unknown key, a trial the mappings do not
 * hold, or a trial the file does not name (unless it says `unlisted`) stops the service naming it, so no trial
 * is silently open or closed.
 */
const contactSchema = z.strictObject({
  name: z.string().min(1).max(120),
  role: z.string().min(1).max(120),
  phone: z.string().regex(/^\+?[0-9 ().-]{3,40}$/, { message: 'a telephone number (digits, spaces, + ( ) . -)' }).optional(),
  email: z.email().optional(),
});

export const siteFileSchema = z.strictObject({
  /** The site's name, for the apps and ResearchStudy.site. */
  site: z.string().min(1).max(200),
  /**
   * The status of a trial the file does not name (one added to fhir-mappings/trials/ later). Absent: the file
   * must name every trial, and start-up stops naming those it does not.
   */
  unlisted: z.enum(SITE_STATUSES).optional(),
  trials: z.record(
    z.string(),
    z.strictObject({
      /** The default when no coordinator has changed it (src/trials/site-info.ts). */
      status: z.enum(SITE_STATUSES),
      contact: contactSchema.optional(),
    }),
  ),
});

export type SiteFile = z.infer<typeof siteFileSchema>;

export class SiteFileError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'SiteFileError';
  }
}

/** Reads and checks the site file against the trials; throws a SiteFileError naming what is wrong. */
export function loadSiteFile(file: string, trials: readonly CompiledTrial[]): { site: string; trials: Map<string, SiteTrialSettings> } {
  if (!existsSync(file)) throw new SiteFileError(file, 'site file not found (SITE_FILE)');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SiteFileError(file, `not JSON: ${(err as Error).message}`);
  }
  const parsed = siteFileSchema.safeParse(raw);
  if (!parsed.success) throw new SiteFileError(file, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  const known = new Set(trials.map((t) => t.id));
  for (const id of Object.keys(parsed.data.trials)) {
    if (!known.has(id)) throw new SiteFileError(file, `trials.${id}: no such trial in fhir-mappings/trials/`);
  }
  const missing = trials.filter((t) => !(t.id in parsed.data.trials)).map((t) => t.id);
  const unlisted = parsed.data.unlisted;
  if (unlisted) return { site: parsed.data.site, trials: new Map([...missing.map((id): [string, SiteTrialSettings] => [id, { status: unlisted }]), ...Object.entries(parsed.data.trials)]) };
  if (missing.length > 0) throw new SiteFileError(file, `the file does not say the site's status for ${missing.join(', ')}: give each trial a status (open, paused, closed, not-participating)`);
  return { site: parsed.data.site, trials: new Map(Object.entries(parsed.data.trials)) };
}
