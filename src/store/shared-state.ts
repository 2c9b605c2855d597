/**
 * The service's shared state, one interface per kind, so the same code runs on one process (the embedded
 * journal) or on several replicas over PostgreSQL (selected by DATABASE_URL). Every method is async: a
 * replica's answer may depend on what another replica wrote a moment before.
 *
 * Nothing here holds patient data in the clear except the audit trail, which exists to say who looked at
 * which patient (it is not the operational log). Suppressions are keyed by a keyed hash of issuer, patient
 * and trial (see security/suppression-key.ts), never by the raw patient id.
 */

import type { SiteStatus } from '../trials/site-info.js';
import type { ScreeningResultsStore } from '../population/screening-entry.js';
import type { PatientStateStore } from './patient-states.js';

/** A card the service answered with, remembered so feedback (which names only the card) can be attributed. */
export interface RememberedCard {
  uuid: string;
  trialId: string;
  /**
   * The issuer (`iss`) whose EHR was shown the card; '' for a card remembered before issuers were (an old
   * journal line or row). Only that issuer's feedback on the card is taken (issue #20 item 4): another's, or
   * any on a card with no issuer, is an unknown card.
   */
  issuer: string;
  /** The patient the card was for, so a feedback audit event names the patient (issue #20 item 5). */
  patientId?: string;
  /** The codes of the card's overrideReasons: an override whose reason is not one of them is refused. */
  overrideReasons: readonly string[];
  /** The suppression key (HMAC of issuer, patient and trial) for this card's patient and trial, if any. */
  suppressionKey?: string;
  /** Suggestions the card offered (their uuids), so feedback on a suggestion is attributed too. */
  suggestions?: readonly string[];
}

/** One feedback item as the store reads it (CDS Hooks 2.0 §Feedback); the clinician's comment is never kept. */
export interface CardFeedback {
  card: string;
  outcome: 'accepted' | 'overridden';
  overrideReason?: { reason?: { code: string } };
  acceptedSuggestions?: readonly { id: string }[];
  outcomeTimestamp: string;
}

/** What one feedback call did, item by item, so the route can say what it recorded. */
export interface FeedbackReceipt {
  stored: number;
  duplicates: number;
  /** Feedback on a card this service never answered with (or has forgotten). */
  unknownCards: number;
  /** Items refused, with why (e.g. a reason that is not one of the card's overrideReasons). */
  rejected: { card: string; why: string }[];
  /** The stored items, with what the store knew of their card: the caller acts on them (suppression). */
  accepted: { card: string; trialId: string; outcome: 'accepted' | 'overridden'; reason?: string; suppressionKey?: string; patientId?: string }[];
  /**
   * The duplicates, likewise: an EHR retrying after an answer it did not get (the feedback stored, the
   * suppression not yet set) still gets its suppression.
   */
  repeated?: FeedbackReceipt['accepted'];
}

export interface FeedbackSummary {
  trialId: string;
  accepted: number;
  overridden: number;
  /** A Map, not an object: reason codes such as `__proto__` or `constructor` cannot poison it. */
  overrideReasons: Map<string, number>;
}

export interface FeedbackStore {
  rememberCards(cards: readonly RememberedCard[]): Promise<void>;
  /**
   * Resolves once the feedback is durable; only then is it acknowledged. Each item counted once, under `issuer`,
   * and only on a card that issuer was shown (issue #20 item 4).
   */
  record(serviceId: string, issuer: string, feedback: readonly CardFeedback[], receivedAt: Date): Promise<FeedbackReceipt>;
  /** This issuer's counts for the trial: an issuer reads only what its own clinicians said (issue #20 item 4). */
  summary(trialId: string, issuer: string): Promise<FeedbackSummary>;
}

/** "Do not show this trial's card for this patient again until …", set by an honoured override reason. */
export interface SuppressionStore {
  suppress(key: string, until: Date, reason: string): Promise<void>;
  /** The keys among `keys` that are suppressed at `now`. */
  active(keys: readonly string[], now: Date): Promise<Set<string>>;
}

/** CDS Hooks 2.0 §Trusting CDS Clients: a `jti` seen before is refused, across replicas and restarts. */
export interface ReplayStore {
  /**
   * 'fresh' (now remembered until expiresAt), 'replayed' (seen and still live), or 'full' (this issuer's
   * quota of live tokens is used up: refuse, rather than forget one that could then be replayed).
   */
  check(issuer: string, jti: string, expiresAt: Date, now: Date): Promise<'fresh' | 'replayed' | 'full'>;
  /** Live entries, for /metrics. */
  size(): Promise<number>;
}

/** Who evaluated which patient and when: for a site's security officer, apart from the operational log. */
export interface AuditEvent {
  at: Date;
  /** The client's issuer (`iss`) and user (`sub`); 'anonymous' when AUTH_MODE=off. */
  issuer: string;
  subject: string;
  action: 'patient-view' | 'evaluate' | 'feedback' | 'smart-evaluate' | 'site-status' | 'coordinator-state' | 'worklist';
  patientId?: string;
  /** `coordinator-state`: the state the coordinator set (src/store/patient-states.ts). */
  state?: string;
  fhirServer?: string;
  trials?: readonly string[];
  /** The cards a feedback call was about (their uuids), each one this issuer was shown (issue #20 item 5). */
  cards?: readonly string[];
}

export interface AuditTrail {
  record(event: AuditEvent): Promise<void>;
}

/**
 * A terminology server's answers (issue #17 item 3), reused until they expire and shared by replicas. Keys
 * are digests of the server and the question (src/terminology/server-client.ts), values its answer as JSON;
 * neither holds patient data.
 */
export interface TerminologyCache {
  /** The unexpired answers among `keys`. */
  get(keys: readonly string[], now: Date): Promise<Map<string, string>>;
  put(entries: readonly { key: string; value: string; expiresAt: Date }[]): Promise<void>;
}

/**
 * A coordinator's setting of a trial's status at this site (issue #19 item 3), shared by the replicas and kept
 * across restarts; the newest setting per trial holds. Names the trial and the coordinator, never a patient.
 */
export interface SiteStatusSetting {
  trialId: string;
  status: SiteStatus;
  reason?: string;
  at: Date;
  issuer: string;
  subject: string;
}

export interface SiteStatusStore {
  /** The newest setting per trial id (trials never set are absent: the site file holds). */
  current(): Promise<Map<string, SiteStatusSetting>>;
  /** Resolves once the setting is durable. */
  set(setting: SiteStatusSetting): Promise<void>;
}

export interface SharedState {
  readonly kind: 'embedded' | 'postgres';
  feedback: FeedbackStore;
  suppressions: SuppressionStore;
  replay: ReplayStore;
  audit: AuditTrail;
  terminology: TerminologyCache;
  /** The site's own status per trial, as coordinators set it (src/trials/site-info.ts). */
  siteStatus: SiteStatusStore;
  /** Population screening results (issue #19): written by screening jobs, read by the coordinator's worklist. */
  screening: ScreeningResultsStore;
  /** The coordinator's state of each candidate on a worklist (issue #19 item 2). */
  patientStates: PatientStateStore;
  /** Throws when the state cannot be used (database down): /readyz. */
  check(): Promise<void>;
  close(): Promise<void>;
}
