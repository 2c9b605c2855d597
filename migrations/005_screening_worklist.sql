-- Population screening (issue #19): one row per (FHIR server, trial, patient), the latest a job computed
-- (src/population/screening-entry.ts), and the coordinator's state of each candidate on the worklist.
-- Patient ids by design: the coordinator must open the chart. Never in the operational log.
create table screening_results (
  fhir_server text not null,
  trial_id text not null,
  patient_id text not null,
  job_id text not null,
  status text not null check (status in ('likely-eligible', 'possibly-eligible', 'ineligible')),
  status_reason text not null,
  open_items text[] not null,
  open_item_text text[] not null,
  -- [{"id": "inc-1", "outcome": "met"}, …] in protocol order.
  criteria jsonb not null,
  last_data_seen text,
  data_digest text not null,
  screened_at text not null,
  is_new boolean not null,
  primary key (fhir_server, trial_id, patient_id)
);
-- The worklist reads one trial's candidates; an incremental job asks the digests of a server's patients.
create index screening_results_trial on screening_results (trial_id, status);
create index screening_results_patient on screening_results (fhir_server, patient_id);

-- The coordinator's current state of a candidate (src/store/patient-states.ts); the history is audit_events.
create table patient_states (
  fhir_server text not null,
  trial_id text not null,
  patient_id text not null,
  state text not null check (state in ('new', 'reviewed', 'contacted', 'referred', 'declined', 'enrolled', 'not-eligible')),
  set_by_issuer text not null,
  set_by_subject text not null,
  set_at timestamptz not null,
  primary key (fhir_server, trial_id, patient_id)
);
create index patient_states_trial on patient_states (trial_id);

-- The state an audit event of action 'coordinator-state' records.
alter table audit_events add column if not exists state text;

-- A remembered card's patient and FHIR server, so an accepted referral (issue #19 item 4) marks that patient
-- "referred" on the trial's worklist. "if not exists": another change may add patient_id for its own reason.
alter table cards add column if not exists patient_id text;
alter table cards add column if not exists fhir_server text;
