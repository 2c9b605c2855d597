-- Population screening jobs (issue #19 item 1, src/bulk/): the job, its chunks and the export's resources
-- staged by patient bucket, so every replica takes a share of one job and a killed replica's chunk is retried
-- (the chunks themselves are on the pg-boss queue, in its own schema).
create table population_jobs (
  id uuid primary key,
  fhir_server text not null,
  -- 'Patient' (all patients) or 'Group/<id>': one running job per server and scope; the latest completed
  -- one's transaction_time is the next job's _since.
  scope text not null,
  state text not null check (state in ('queued', 'exporting', 'downloading', 'screening', 'completed', 'failed')),
  transaction_time text,
  -- The job as src/bulk/screening-job.ts ScreeningJob (counts, times, the export's file list): no patient data.
  job jsonb not null,
  updated_at timestamptz not null default now()
);
create unique index population_jobs_one_running on population_jobs (fhir_server, scope) where state not in ('completed', 'failed');
create index population_jobs_completed on population_jobs (fhir_server, scope, transaction_time) where state = 'completed';

-- Chunks done, each once: a retried chunk whose first run committed is not counted (or screened) again.
create table population_chunks (
  job_id uuid not null references population_jobs (id) on delete cascade,
  chunk text not null,
  -- A screening chunk's counts (ScreenSummary); the job's summary is their sum.
  summary jsonb,
  primary key (job_id, chunk)
);

-- The export's resources, as the server sent them, by patient bucket: a download chunk (one output file)
-- writes its file's rows in one transaction with its chunk row; a screening chunk reads one bucket, so a
-- patient's resources from every type-split file are screened together. Deleted when the job ends.
create table population_staging (
  id bigserial primary key,
  job_id uuid not null references population_jobs (id) on delete cascade,
  bucket integer not null,
  file_index integer not null,
  patient_id text not null,
  resource text not null
);
-- A screening chunk reads its bucket in pages of rows, by id.
create index population_staging_bucket on population_staging (job_id, bucket, id);
