import { createHash } from 'node:crypto';
import type { Outcome } from '../../engine/types.js';
import type { ScreeningEntry, ScreeningResultsStore } from '../../population/screening-entry.js';
import { candidateKey, latestPerCandidate } from '../candidate-key.js';
import { REFERRAL_OFFER_DAYS, type PatientState, type PatientStateStore, type ReferralOffer } from '../patient-states.js';
import type { Journal } from './journal.js';
import { offerLine, outcomesEntry, screeningJournalEntry, screeningLine, type OfferLine, type OutcomesEntry, type ScreeningLine, type StateLine } from './screening-entries.js';

/** Referral offers held at most (the oldest go first), as FEEDBACK_MAX_CARDS bounds the cards. */
const MAX_OFFERS = 100_000;

/** Criterion outcomes and open items shared by every entry that has the same ones (most patients do). */
interface Outcomes {
  v: string;
  criteria: readonly { id: string; outcome: Outcome }[];
  openItems: readonly string[];
  openItemText: readonly string[];
}

type Held = Omit<ScreeningEntry, 'criteria' | 'openItems' | 'openItemText'> & { outcomes: Outcomes };

/**
 * Population screening results and the coordinator's patient states in the embedded mode (no DATABASE_URL):
 * in memory, journaled in their own file (SCREENING_FILE, beside the feedback journal) so a job's hundreds of
 * thousands of lines never slow the feedback journal's start or compaction. A put is acknowledged once its
 * lines are fsynced. The journal is compacted to the latest entry per key once it holds more than twice the
 * lines it needs.
 */
export class EmbeddedScreeningStore implements ScreeningResultsStore {
  /** trialId → (server, patient) → entry. */
  private readonly byTrial = new Map<string, Map<string, Held>>();
  /** (server, patient) → the digest of the data last screened (the same for every trial). */
  private readonly digestOf = new Map<string, string>();
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
    const parsed = screeningJournalEntry.safeParse(raw);
    if (!parsed.success) return false;
    const e = parsed.data;
    this.lines++;
    switch (e.t) {
      case 'outcomes':
        this.outcomes.set(e.v, outcomesOf(e));
        return true;
      case 'screening': {
        const outcomes = this.outcomes.get(e.v);
        if (!outcomes) return false;
        const { t: _t, v: _v, ...fields } = e;
        this.hold({ ...fields, outcomes });
        return true;
      }
      case 'state':
        this.holdState(stateOf(e));
        return true;
      case 'offer': {
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
    const held: Held[] = [];
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
      const line = screeningLine.parse({
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
        isNew: isNewCandidate(e, this.byTrial.get(e.trialId)?.get(candidateKey(e.fhirServer, '', e.patientId))),
      });
      lines.push(line);
      const { t: _t, v: _v, ...fields } = line;
      held.push({ ...fields, outcomes });
    }
    for (const [v, o] of added) this.outcomes.set(v, o);
    for (const h of held) this.hold(h);
    const stored = held.map(expand);
    if (this.journal) {
      this.journal.append(lines);
      this.lines += lines.length;
      await this.journal.sync();
      this.compactIfDue();
    }
    return stored;
  }

  async forTrial(trialId: string, fhirServer?: string): Promise<ScreeningEntry[]> {
    const held = this.byTrial.get(trialId);
    if (!held) return [];
    const out: ScreeningEntry[] = [];
    for (const h of held.values()) if (fhirServer === undefined || h.fhirServer === fhirServer) out.push(expand(h));
    return out;
  }

  async digests(fhirServer: string, patientIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of patientIds) {
      const d = this.digestOf.get(candidateKey(fhirServer, '', id));
      if (d !== undefined) out.set(id, d);
    }
    return out;
  }

  /** Every live line, outcomes before the entries that name them, for compaction. */
  *snapshot(): Generator<OutcomesEntry | ScreeningLine | StateLine | OfferLine> {
    const used = new Map<string, Outcomes>();
    for (const held of this.byTrial.values()) for (const h of held.values()) used.set(h.outcomes.v, h.outcomes);
    // Outcomes no entry names any more are forgotten with the compaction.
    this.outcomes = used;
    for (const o of used.values()) yield { t: 'outcomes', v: o.v, criteria: o.criteria.map((c) => [c.id, c.outcome]), openItems: [...o.openItems], openItemText: [...o.openItemText] };
    for (const held of this.byTrial.values()) {
      for (const h of held.values()) {
        const { outcomes, ...fields } = h;
        yield { t: 'screening', ...fields, v: outcomes.v };
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

  private hold(h: Held): void {
    const s = (x: string): string => this.intern(x);
    const entry: Held = { ...h, trialId: s(h.trialId), fhirServer: s(h.fhirServer), jobId: s(h.jobId), statusReason: h.statusReason, screenedAt: s(h.screenedAt) };
    const patientKey = candidateKey(entry.fhirServer, '', entry.patientId);
    const digest = this.digestOf.get(patientKey);
    if (digest === entry.dataDigest) entry.dataDigest = digest;
    else this.digestOf.set(patientKey, entry.dataDigest);
    let held = this.byTrial.get(entry.trialId);
    if (!held) this.byTrial.set(entry.trialId, (held = new Map<string, Held>()));
    held.set(patientKey, entry);
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
    let n = this.outcomes.size + this.states.size + this.offers.size;
    for (const held of this.byTrial.values()) n += held.size;
    return n;
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

function expand(h: Held): ScreeningEntry {
  const { outcomes, ...fields } = h;
  return { ...fields, criteria: outcomes.criteria.map((c) => ({ ...c })), openItems: [...outcomes.openItems], openItemText: [...outcomes.openItemText] };
}

function stateLine(s: PatientState): StateLine {
  return { t: 'state', fhirServer: s.fhirServer, trialId: s.trialId, patientId: s.patientId, state: s.state, issuer: s.setBy.issuer, subject: s.setBy.subject, setAt: s.setAt };
}

function stateOf(l: StateLine): PatientState {
  return { fhirServer: l.fhirServer, trialId: l.trialId, patientId: l.patientId, state: l.state, setBy: { issuer: l.issuer, subject: l.subject }, setAt: l.setAt };
}
