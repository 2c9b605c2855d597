import type pg from 'pg';
import type { Outcome, StatusReasonCode, TrialStatus } from '../../engine/types.js';
import type { ScreeningEntry, ScreeningResultsStore } from '../../population/screening-entry.js';
import { candidateKey, latestPerCandidate } from '../candidate-key.js';
import { type PatientState, type PatientStateCode, type PatientStateStore } from '../patient-states.js';
import { inTransaction } from './transaction.js';

/** Rows per statement: one JSON parameter each, well under PostgreSQL's limits, a job's batch in one transaction. */
const ROWS_PER_STATEMENT = 1000;

const ELIGIBLE = `('likely-eligible', 'possibly-eligible')`;

interface ScreeningRow {
  fhir_server: string;
  trial_id: string;
  patient_id: string;
  job_id: string;
  status: TrialStatus;
  status_reason: StatusReasonCode;
  open_items: string[];
  open_item_text: string[];
  criteria: { id: string; outcome: Outcome }[];
  last_data_seen: string | null;
  data_digest: string;
  screened_at: string;
  is_new: boolean;
}

const COLUMNS = 'fhir_server, trial_id, patient_id, job_id, status, status_reason, open_items, open_item_text, criteria, last_data_seen, data_digest, screened_at, is_new';

/**
 * Population screening results on PostgreSQL (migrations/005_screening_worklist.sql), shared by replicas. A put
 * is one upsert per thousand rows in one transaction; `isNew` is decided in the statement against the row it
 * replaces, so two replicas writing the same patient cannot both call it new from a stale read. A retried chunk
 * of the same job keeps what the job's first write decided (src/store/embedded/screening-store.ts isNewCandidate).
 */
export class PostgresScreeningStore implements ScreeningResultsStore {
  constructor(private readonly pool: pg.Pool) {}

  async put(entries: readonly Omit<ScreeningEntry, 'isNew'>[]): Promise<ScreeningEntry[]> {
    const last = latestPerCandidate(entries);
    if (last.size === 0) return [];
    const rows = [...last.values()].map((e) => ({
      fhir_server: e.fhirServer,
      trial_id: e.trialId,
      patient_id: e.patientId,
      job_id: e.jobId,
      status: e.status,
      status_reason: e.statusReason,
      open_items: e.openItems,
      open_item_text: e.openItemText,
      criteria: e.criteria.map((c) => ({ id: c.id, outcome: c.outcome })),
      last_data_seen: e.lastDataSeen ?? null,
      data_digest: e.dataDigest,
      screened_at: e.screenedAt,
    }));
    const stored = new Map<string, ScreeningEntry>();
    await inTransaction(this.pool, async (client) => {
      for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
        const { rows: out } = await client.query<ScreeningRow>(
          `insert into screening_results as s (${COLUMNS})
           select x.fhir_server, x.trial_id, x.patient_id, x.job_id, x.status, x.status_reason, x.open_items, x.open_item_text,
                  x.criteria, x.last_data_seen, x.data_digest, x.screened_at, x.status in ${ELIGIBLE}
           from jsonb_to_recordset($1::jsonb) as x(fhir_server text, trial_id text, patient_id text, job_id text, status text,
                status_reason text, open_items text[], open_item_text text[], criteria jsonb, last_data_seen text, data_digest text, screened_at text)
           on conflict (fhir_server, trial_id, patient_id) do update set
             job_id = excluded.job_id, status = excluded.status, status_reason = excluded.status_reason,
             open_items = excluded.open_items, open_item_text = excluded.open_item_text, criteria = excluded.criteria,
             last_data_seen = excluded.last_data_seen, data_digest = excluded.data_digest, screened_at = excluded.screened_at,
             is_new = excluded.status in ${ELIGIBLE} and not (case when s.job_id = excluded.job_id
               then s.status in ${ELIGIBLE} and not s.is_new
               else s.status in ${ELIGIBLE} end)
           returning ${COLUMNS}`,
          [JSON.stringify(rows.slice(i, i + ROWS_PER_STATEMENT))],
        );
        for (const r of out) stored.set(candidateKey(r.fhir_server, r.trial_id, r.patient_id), entryOf(r));
      }
    });
    // In the order given (RETURNING does not promise one).
    return [...last.keys()].map((k) => stored.get(k)).filter((e): e is ScreeningEntry => e !== undefined);
  }

  async forTrial(trialId: string, fhirServer?: string): Promise<ScreeningEntry[]> {
    const { rows } = await this.pool.query<ScreeningRow>(
      `select ${COLUMNS} from screening_results where trial_id = $1 and ($2::text is null or fhir_server = $2)`,
      [trialId, fhirServer ?? null],
    );
    return rows.map(entryOf);
  }

  async digests(fhirServer: string, patientIds: readonly string[]): Promise<Map<string, string>> {
    if (patientIds.length === 0) return new Map();
    // The same data gives every trial the same digest; the latest screening's wins if they ever differ.
    const { rows } = await this.pool.query<{ patient_id: string; data_digest: string }>(
      `select distinct on (patient_id) patient_id, data_digest from screening_results
       where fhir_server = $1 and patient_id = any($2::text[]) order by patient_id, screened_at desc`,
      [fhirServer, [...patientIds]],
    );
    return new Map(rows.map((r) => [r.patient_id, r.data_digest]));
  }
}

/** The coordinator's patient states on PostgreSQL (patient_states). */
export class PostgresPatientStateStore implements PatientStateStore {
  constructor(private readonly pool: pg.Pool) {}

  async set(s: PatientState): Promise<PatientState> {
    await this.pool.query(
      `insert into patient_states (fhir_server, trial_id, patient_id, state, set_by_issuer, set_by_subject, set_at) values ($1, $2, $3, $4, $5, $6, $7)
       on conflict (fhir_server, trial_id, patient_id) do update set state = excluded.state, set_by_issuer = excluded.set_by_issuer,
         set_by_subject = excluded.set_by_subject, set_at = excluded.set_at`,
      [s.fhirServer, s.trialId, s.patientId, s.state, s.setBy.issuer, s.setBy.subject, s.setAt],
    );
    return { ...s, setBy: { ...s.setBy } };
  }

  async forTrial(trialId: string, fhirServer?: string): Promise<PatientState[]> {
    const { rows } = await this.pool.query<{ fhir_server: string; trial_id: string; patient_id: string; state: PatientStateCode; set_by_issuer: string; set_by_subject: string; set_at: Date }>(
      `select fhir_server, trial_id, patient_id, state, set_by_issuer, set_by_subject, set_at from patient_states
       where trial_id = $1 and ($2::text is null or fhir_server = $2)`,
      [trialId, fhirServer ?? null],
    );
    return rows.map((r) => ({ fhirServer: r.fhir_server, trialId: r.trial_id, patientId: r.patient_id, state: r.state, setBy: { issuer: r.set_by_issuer, subject: r.set_by_subject }, setAt: r.set_at.toISOString() }));
  }
}

function entryOf(r: ScreeningRow): ScreeningEntry {
  return {
    trialId: r.trial_id,
    patientId: r.patient_id,
    fhirServer: r.fhir_server,
    jobId: r.job_id,
    status: r.status,
    statusReason: r.status_reason,
    openItems: r.open_items,
    openItemText: r.open_item_text,
    criteria: r.criteria,
    ...(r.last_data_seen !== null ? { lastDataSeen: r.last_data_seen } : {}),
    dataDigest: r.data_digest,
    screenedAt: r.screened_at,
    isNew: r.is_new,
  };
}
