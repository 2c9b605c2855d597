-- A trial's status at this site as coordinators set it (issue #19 item 3: open, paused, closed,
-- not-participating), shared by every replica at once. Append-only: the newest row per trial holds, and the
-- rows are the history of who changed what and when (the audit trail records each change too). Names
-- trials and coordinators, never a patient.
create table site_status (
  id bigserial primary key,
  trial_id text not null,
  status text not null check (status in ('open', 'paused', 'closed', 'not-participating')),
  reason text check (char_length(reason) <= 200),
  set_at timestamptz not null,
  issuer text not null,
  subject text not null
);
create index site_status_trial on site_status (trial_id, id desc);
