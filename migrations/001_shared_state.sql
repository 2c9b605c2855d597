-- TrialMatch CDS shared state on PostgreSQL (issue #12 item 3). Applied by src/store/postgres/migrate.ts at
-- start, in one transaction under an advisory lock; recorded in schema_migrations. Never edit an applied file:
-- add the next number.

-- The cards the service answered with, so feedback (which names only the card) can be attributed and checked.
create table cards (
  uuid uuid primary key,
  trial_id text not null,
  override_reasons text[] not null default '{}',
  suppression_key text,
  suggestions text[] not null default '{}',
  created_at timestamptz not null default now()
);
create index cards_created_at on cards (created_at);

-- Every feedback item kept: the reason code, never the clinician's comment. One row per (card, outcome,
-- outcomeTimestamp): an EHR's retry is a conflict, not a second row.
create table feedback (
  id bigserial primary key,
  service text not null,
  card uuid not null,
  trial_id text not null,
  outcome text not null check (outcome in ('accepted', 'overridden')),
  reason text check (char_length(reason) <= 64),
  accepted_suggestions text[] not null default '{}',
  outcome_timestamp text not null,
  received_at timestamptz not null,
  unique (card, outcome, outcome_timestamp)
);

-- A card's outcome counts once, whatever its timestamp (an accepted count cannot be pumped).
create table feedback_counted (
  card uuid not null,
  outcome text not null,
  primary key (card, outcome)
);

-- The counts per trial, updated in the transaction that inserts the feedback. reason '' for acceptances.
create table feedback_counts (
  trial_id text not null,
  outcome text not null,
  reason text not null,
  count bigint not null,
  primary key (trial_id, outcome, reason)
);

-- "Do not show this trial's card for this patient until": keyed by HMAC(issuer, fhirServer, patient, trial).
create table suppressions (
  key text primary key,
  until timestamptz not null,
  reason text not null,
  set_at timestamptz not null default now()
);

-- CDS Hooks 2.0 §Trusting CDS Clients: each iss + jti once, until it expires.
create table replay (
  issuer text not null,
  jti text not null,
  expires_at timestamptz not null,
  primary key (issuer, jti)
);
create index replay_issuer_expires on replay (issuer, expires_at);

-- Who evaluated which patient and when, for a site's security officer (docs/deployment.md).
create table audit_events (
  id bigserial primary key,
  at timestamptz not null,
  issuer text not null,
  subject text not null,
  action text not null,
  patient_id text,
  fhir_server text,
  trials text[]
);
create index audit_events_at on audit_events (at);
create index audit_events_patient on audit_events (patient_id, at);
