import { createHash } from 'node:crypto';
import type { Outcome, StatusReasonCode, TrialStatus } from '../../engine/types.js';
import type { ScreeningEntry, ScreeningResultsStore } from '../../population/screening-entry.js';
import { candidateKey, latestPerCandidate } from '../candidate-key.js';
import { REFERRAL_OFFER_DAYS, type PatientState, type PatientStateStore, type ReferralOffer } from '../patient-states.js';
import type { Journal } from './journal.js';
import {
  SCREENING_REASONS, SCREENING_STATUSES, offerLine, outcomesEntry, readScreeningLine, screeningJournalEntry, screeningLine, type OfferLine, type OutcomesEntry, type ScreeningLine, type StateLine,
} from './screening-entries.js';

/** Referral offers held at most (the oldest go first), as FEEDBACK_MAX_CARDS bounds the cards. */
const MAX_OFFERS = 100_000;

/** Criterion outcomes and open items shared by every entry that has the same ones (most patients do). */
interface Outcomes {
  v: string;
  criteria: readonly { id: string; outcome: Outcome }[];
  openItems: readonly string[];
  openItemText: readonly string[];
}

/**
 * One patient of one FHIR server: held once, whatever the number of trials and jobs (issue #19: the store held
 * an object of eleven fields per trial and patient, with its own copies of the id, key, status and dates: 191
 * MiB of heap for 100,000 patients' journal read back, 68 MiB in this form).
 */
interface PatientSlot {
  readonly fhirServer: string;
  readonly patientId: string;
  /** The screening last held for this patient (its digest is what an incremental job compares). */
  last: Screened | undefined;
  /** Its entry per trial, by the trial's slot (EmbeddedScreeningStore.trialSlots). */
  readonly entries: (Held | undefined)[];
}

/** What one job saw of a patient: shared by that patient's entries for every trial the job screened. */
interface Screened {
  readonly patient: PatientSlot;
  readonly jobId: string;
  readonly screenedAt: string;
  readonly dataDigest: string;
  readonly lastDataSeen: string | undefined;
}

/**
 * One (trial, patient) entry as held: its screening, its outcomes (shared by every entry with the same), and
 * status, reason and isNew packed in one small integer. An ineligible entry's outcomes are its one blocking
 * criterion, shared by every patient blocked by it, so an entry costs three fields whatever its status.
 */
interface Held {
  readonly screened: Screened;
  readonly outcomes: Outcomes;
  readonly bits: number;
}

// Two bits of status, four of reason, one of isNew.
if (SCREENING_STATUSES.length > 4 || SCREENING_REASONS.length > 16) throw new Error('a screening status or reason more than packBits holds');
const STATUS_INDEX = new Map<string, number>(SCREENING_STATUSES.map((s, i) => [s, i]));
const REASON_INDEX = new Map<string, number>(SCREENING_REASONS.map((r, i) => [r, i]));

function packBits(status: TrialStatus, reason: StatusReasonCode, isNew: boolean): number {
  return STATUS_INDEX.get(status)! | (REASON_INDEX.get(reason)! << 2) | (isNew ? 64 : 0);
}
function statusOf(bits: number): TrialStatus {
  return SCREENING_STATUSES[bits & 3]!;
}
function reasonOf(bits: number): StatusReasonCode {
  return SCREENING_REASONS[(bits >> 2) & 15]!;
}
function isNewOf(bits: number): boolean {
  return (bits & 64) !== 0;
}

/**
 * Population screening results and the coordinator's patient states in the embedded mode (no DATABASE_URL):
 * in memory, journaled in their own file (SCREENING_FILE, beside the feedback journal) so a job's hundreds of
 * thousands of lines never slow the feedback journal's start or compaction. A put is acknowledged once its
 * lines are fsynced. The journal is compacted to the latest entry per key once it holds more than twice the
 * lines it needs.
 */
export class EmbeddedScreeningStore implements ScreeningResultsStore {
  /** fhirServer → patientId → the patient and its entries. */
  private readonly servers = new Map<string, Map<string, PatientSlot>>();
  /** trialId → its index in every PatientSlot's entries. */
  private readonly trialSlots = new Map<string, number>();
  private entryCount = 0;
  private outcomes = new Map<string, Outcomes>();
  private readonly states = new Map<string, PatientState>();
  private readonly offers = new Map<string, ReferralOffer>();
  /** Repeated short strings (trial ids, server URLs, job ids, timestamps) held once. */
  private readonly strings = new Map<string, string>();
  private journal: Journal | undefined;
  private lines = 0;

  /** The coordinator's states, kept in the same journal (src/store/patient-states.ts). */
  readonly patientStates: PatientStateStore = {
    set: (state) => this.setState(state),
    forTrial: async (trialId, fhirServer) => [...this.states.values()].filter((s) => s.trialId === trialId && (fhirServer === undefined || s.fhirServer === fhirServer)).map((s) => ({ ...s, setBy: { ...s.setBy } })),
    offerReferrals: (offers) => this.offerReferrals(offers),
    referralsOffered: async (suggestions) => suggestions.flatMap((s) => {
      const o = this.offers.get(s.toLowerCase());
      return o ? [{ ...o }] : [];
    }),
  };

  /** Writes to the journal from now on (after start-up has replayed it into this store); compacts if due. */
  attach(journal: Journal): void {
    this.journal = journal;
    this.compactIfDue();
  }

  /** One journal line read at start; false when it is not a valid entry (the caller counts it as skipped). */
  replay(raw: unknown): boolean {
    // The hot line first, by its own check (readScreeningLine): zod for the rare kinds.
    const line = readScreeningLine(raw);
    if (line) {
      const outcomes = this.outcomes.get(line.v);
      if (!outcomes) return false;
      this.lines++;
      this.hold(line, outcomes);
      return true;
    }
    const parsed = screeningJournalEntry.safeParse(raw);
    if (!parsed.success) return false;
    const e = parsed.data;
    switch (e.t) {
      case 'outcomes':
        this.lines++;
        this.outcomes.set(e.v, outcomesOf(e));
        return true;
      case 'screening':
        // Refused by readScreeningLine, which answers as the schema does (test/store/screening-line.test.ts): skipped.
        return false;
      case 'state':
        this.lines++;
        this.holdState(stateOf(e));
        return true;
      case 'offer': {
        this.lines++;
        const { t: _t, ...offer } = e;
        this.holdOffer(offer);
        return true;
      }
    }
  }

  async put(entries: readonly Omit<ScreeningEntry, 'isNew'>[]): Promise<ScreeningEntry[]> {
    const last = latestPerCandidate(entries);
    // Every line is built and checked before anything is held: a batch is kept whole or not at all.
    const lines: (OutcomesEntry | ScreeningLine)[] = [];
    const added = new Map<string, Outcomes>();
    const held: { line: ScreeningLine; outcomes: Outcomes }[] = [];
    for (const e of last.values()) {
      const v = outcomesDigest(e);
      let outcomes = this.outcomes.get(v) ?? added.get(v);
      if (!outcomes) {
        // Checked as start-up will read it: an entry the journal could not give back fails now, not at restart.
        const line = outcomesEntry.parse({ t: 'outcomes', v, criteria: e.criteria.map((c) => [c.id, c.outcome]), openItems: e.openItems, openItemText: e.openItemText });
        outcomes = outcomesOf(line);
        added.set(v, outcomes);
        lines.push(line);
      }
      const previous = this.entryOf(e.trialId, e.fhirServer, e.patientId);
      const candidate = {
        t: 'screening',
        trialId: e.trialId,
        patientId: e.patientId,
        fhirServer: e.fhirServer,
        jobId: e.jobId,
        status: e.status,
        statusReason: e.statusReason,
        v,
        ...(e.lastDataSeen !== undefined ? { lastDataSeen: e.lastDataSeen } : {}),
        dataDigest: e.dataDigest,
        screenedAt: e.screenedAt,
        isNew: isNewCandidate(e, previous && { status: statusOf(previous.bits), jobId: previous.screened.jobId, isNew: isNewOf(previous.bits) }),
      };
      const line = readScreeningLine(candidate);
      // The schema names what is wrong; start-up would skip the line.
      if (!line) throw new Error(`a screening entry the journal could not read back: ${screeningLine.safeParse(candidate).error?.message ?? 'invalid'}`);
      lines.push(line);
      held.push({ line, outcomes });
    }
    for (const [v, o] of added) this.outcomes.set(v, o);
    const stored = held.map(({ line, outcomes }) => expand(line.trialId, this.hold(line, outcomes)));
    if (this.journal) {
      this.journal.append(lines);
      this.lines += lines.length;
      await this.journal.sync();
      this.compactIfDue();
    }
    return stored;
  }

  async forTrial(trialId: string, fhirServer?: string): Promise<ScreeningEntry[]> {
    const slot = this.trialSlots.get(trialId);
    if (slot === undefined) return [];
    const out: ScreeningEntry[] = [];
    const servers = fhirServer === undefined ? this.servers.values() : [this.servers.get(fhirServer) ?? new Map<string, PatientSlot>()];
    for (const patients of servers) {
      for (const p of patients.values()) {
        const h = p.entries[slot];
        if (h) out.push(expand(trialId, h));
      }
    }
    return out;
  }

  async digests(fhirServer: string, patientIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const patients = this.servers.get(fhirServer);
    if (!patients) return out;
    for (const id of patientIds) {
      const d = patients.get(id)?.last?.dataDigest;
      if (d !== undefined) out.set(id, d);
    }
    return out;
  }

  /** Every live line, outcomes before the entries that name them, for compaction. */
  *snapshot(): Generator<OutcomesEntry | ScreeningLine | StateLine | OfferLine> {
    const used = new Map<string, Outcomes>();
    for (const patients of this.servers.values()) for (const p of patients.values()) for (const h of p.entries) if (h) used.set(h.outcomes.v, h.outcomes);
    // Outcomes no entry names any more are forgotten with the compaction.
    this.outcomes = used;
    for (const o of used.values()) yield { t: 'outcomes', v: o.v, criteria: o.criteria.map((c) => [c.id, c.outcome]), openItems: [...o.openItems], openItemText: [...o.openItemText] };
    const trialIds = [...this.trialSlots.keys()];
    for (const patients of this.servers.values()) {
      for (const p of patients.values()) {
        for (let slot = 0; slot < p.entries.length; slot++) {
          const h = p.entries[slot];
          if (h) yield lineOf(trialIds[slot]!, h);
        }
      }
    }
    for (const s of this.states.values()) yield stateLine(s);
    // Offers older than the cards' retention are forgotten with the compaction.
    const since = new Date(Date.now() - REFERRAL_OFFER_DAYS * 86_400_000).toISOString();
    for (const o of this.offers.values()) if (o.offeredAt >= since) yield { t: 'offer', ...o } satisfies OfferLine;
  }

  private async offerReferrals(offers: readonly ReferralOffer[]): Promise<void> {
    if (offers.length === 0) return;
    const lines = offers.map((o) => offerLine.parse({ t: 'offer', ...o, suggestion: o.suggestion.toLowerCase() }));
    if (this.journal) {
      this.journal.append(lines);
      this.lines += lines.length;
    }
    for (const { t: _t, ...o } of lines) this.holdOffer(o);
    if (this.journal) await this.journal.sync();
  }

  private holdOffer(o: ReferralOffer): void {
    this.offers.delete(o.suggestion);
    this.offers.set(o.suggestion, o);
    while (this.offers.size > MAX_OFFERS) {
      const oldest = this.offers.keys().next().value;
      if (oldest === undefined) break;
      this.offers.delete(oldest);
    }
  }

  private async setState(state: PatientState): Promise<PatientState> {
    const line = stateLine(state);
    if (this.journal) {
      this.journal.append([line]);
      this.lines++;
    }
    this.holdState(stateOf(line));
    if (this.journal) await this.journal.sync();
    return stateOf(line);
  }

  private entryOf(trialId: string, fhirServer: string, patientId: string): Held | undefined {
    const slot = this.trialSlots.get(trialId);
    return slot === undefined ? undefined : this.servers.get(fhirServer)?.get(patientId)?.entries[slot];
  }

  /** Holds a checked line: the patient found or added, its screening shared with its other trials' when the same. */
  private hold(line: ScreeningLine, outcomes: Outcomes): Held {
    let slot = this.trialSlots.get(line.trialId);
    if (slot === undefined) this.trialSlots.set(this.intern(line.trialId), (slot = this.trialSlots.size));
    let patients = this.servers.get(line.fhirServer);
    if (!patients) this.servers.set(this.intern(line.fhirServer), (patients = new Map<string, PatientSlot>()));
    let patient = patients.get(line.patientId);
    if (!patient) {
      // Sized to the trials known (an array grown by push from empty reserves 17 slots: 19 MiB at 100,000 patients).
      patient = { fhirServer: this.intern(line.fhirServer), patientId: line.patientId, last: undefined, entries: new Array<Held | undefined>(this.trialSlots.size).fill(undefined) };
      patients.set(line.patientId, patient);
    }
    let screened = patient.last;
    if (!screened || screened.jobId !== line.jobId || screened.screenedAt !== line.screenedAt || screened.dataDigest !== line.dataDigest || screened.lastDataSeen !== line.lastDataSeen) {
      screened = { patient, jobId: this.intern(line.jobId), screenedAt: this.intern(line.screenedAt), dataDigest: line.dataDigest, lastDataSeen: line.lastDataSeen };
    }
    patient.last = screened;
    const h: Held = { screened, outcomes, bits: packBits(line.status, line.statusReason, line.isNew) };
    while (patient.entries.length < slot) patient.entries.push(undefined);
    if (patient.entries[slot] === undefined) this.entryCount++;
    patient.entries[slot] = h;
    return h;
  }

  private holdState(s: PatientState): void {
    this.states.set(candidateKey(s.fhirServer, s.trialId, s.patientId), s);
  }

  private intern(x: string): string {
    const known = this.strings.get(x);
    if (known !== undefined) return known;
    // Bounded: timestamps and job ids grow with the jobs run; past this the strings are simply not shared.
    if (this.strings.size < 100_000) this.strings.set(x, x);
    return x;
  }

  private live(): number {
    return this.outcomes.size + this.states.size + this.offers.size + this.entryCount;
  }

  private compactIfDue(): void {
    if (!this.journal || this.lines < 10_000 || this.lines <= 2 * this.live()) return;
    this.journal.compactWhenIdle(() => this.snapshot());
    this.lines = this.live();
  }
}

const ELIGIBLE = new Set(['likely-eligible', 'possibly-eligible']);

/**
 * The contract's `isNew` (src/population/screening-entry.ts): likely or possibly eligible now, and not before
 * this job. A job that writes the same key again (a retried chunk) keeps what its first write decided.
 */
export function isNewCandidate(entry: Pick<ScreeningEntry, 'status' | 'jobId'>, previous: Pick<ScreeningEntry, 'status' | 'jobId' | 'isNew'> | undefined): boolean {
  if (!ELIGIBLE.has(entry.status)) return false;
  if (!previous) return true;
  const eligibleBefore = previous.jobId === entry.jobId ? ELIGIBLE.has(previous.status) && !previous.isNew : ELIGIBLE.has(previous.status);
  return !eligibleBefore;
}

/** A content already hashed, kept to be compared with the next entries'. */
interface KnownContent {
  v: string;
  criteria: readonly { id: string; outcome: Outcome }[];
  openItems: readonly string[];
  openItemText: readonly string[];
}

/**
 * The contents already hashed, by a short key (each criterion's outcome and the open items' ids). A job's
 * 500,000 entries (100,000 patients x 5 trials) repeat a few hundred contents, and the JSON text and SHA-256
 * per entry were half the CPU of a put (profile of 160,000 entries: 4.4 s of 8.5 s). An entry takes a known
 * digest only when its content is equal element by element, so the key can never give a wrong digest.
 * Bounded: past the bound it starts again, which costs only hashing again.
 */
const CONTENT_MEMO_MAX = 10_000;
const contentMemo = new Map<string, KnownContent[]>();

function sameContent(a: KnownContent, e: Pick<ScreeningEntry, 'criteria' | 'openItems' | 'openItemText'>): boolean {
  if (a.criteria.length !== e.criteria.length || a.openItems.length !== e.openItems.length || a.openItemText.length !== e.openItemText.length) return false;
  for (let i = 0; i < a.criteria.length; i++) if (a.criteria[i]!.id !== e.criteria[i]!.id || a.criteria[i]!.outcome !== e.criteria[i]!.outcome) return false;
  for (let i = 0; i < a.openItems.length; i++) if (a.openItems[i] !== e.openItems[i]) return false;
  for (let i = 0; i < a.openItemText.length; i++) if (a.openItemText[i] !== e.openItemText[i]) return false;
  return true;
}

/** A digest of the outcome content (not of the patient): entries with the same outcomes share one line. */
function outcomesDigest(e: Pick<ScreeningEntry, 'criteria' | 'openItems' | 'openItemText'>): string {
  let key = '';
  for (const c of e.criteria) key += c.outcome.charAt(0);
  key += `|${e.openItems.join('|')}`;
  const candidates = contentMemo.get(key);
  const known = candidates?.find((k) => sameContent(k, e));
  if (known) return known.v;
  const v = createHash('sha256')
    .update(JSON.stringify([e.criteria.map((c) => [c.id, c.outcome]), e.openItems, e.openItemText]))
    .digest('hex')
    .slice(0, 32);
  if (contentMemo.size >= CONTENT_MEMO_MAX) contentMemo.clear();
  const content: KnownContent = { v, criteria: e.criteria.map((c) => ({ id: c.id, outcome: c.outcome })), openItems: [...e.openItems], openItemText: [...e.openItemText] };
  if (candidates && candidates.length < 16) candidates.push(content);
  else contentMemo.set(key, [content]);
  return v;
}

function outcomesOf(e: OutcomesEntry): Outcomes {
  return Object.freeze({
    v: e.v,
    criteria: Object.freeze(e.criteria.map(([id, outcome]) => Object.freeze({ id, outcome }))),
    openItems: Object.freeze([...e.openItems]),
    openItemText: Object.freeze([...e.openItemText]),
  });
}

/** The screening line an entry was read from (or would be written as). */
function lineOf(trialId: string, h: Held): ScreeningLine {
  const s = h.screened;
  return {
    t: 'screening',
    trialId,
    patientId: s.patient.patientId,
    fhirServer: s.patient.fhirServer,
    jobId: s.jobId,
    status: statusOf(h.bits),
    statusReason: reasonOf(h.bits),
    v: h.outcomes.v,
    ...(s.lastDataSeen !== undefined ? { lastDataSeen: s.lastDataSeen } : {}),
    dataDigest: s.dataDigest,
    screenedAt: s.screenedAt,
    isNew: isNewOf(h.bits),
  };
}

/** The entry as the contract gives it (src/population/screening-entry.ts), its arrays the caller's own. */
function expand(trialId: string, h: Held): ScreeningEntry {
  const { t: _t, v: _v, ...fields } = lineOf(trialId, h);
  const o = h.outcomes;
  return { ...fields, criteria: o.criteria.map((c) => ({ ...c })), openItems: [...o.openItems], openItemText: [...o.openItemText] };
}

function stateLine(s: PatientState): StateLine {
  return { t: 'state', fhirServer: s.fhirServer, trialId: s.trialId, patientId: s.patientId, state: s.state, issuer: s.setBy.issuer, subject: s.setBy.subject, setAt: s.setAt };
}

function stateOf(l: StateLine): PatientState {
  return { fhirServer: l.fhirServer, trialId: l.trialId, patientId: l.patientId, state: l.state, setBy: { issuer: l.issuer, subject: l.subject }, setAt: l.setAt };
}
