-- Issue #20 item 4: feedback is bound to the issuer that was shown the card, and its counts are per issuer.
-- A card remembered before this migration has no issuer: feedback on it is refused as an unknown card (it was
-- rendered at most CARD_RETENTION_DAYS ago; nothing can tell which EHR saw it).
alter table cards add column issuer text;
-- The card's patient, so a feedback audit event names it (issue #20 item 5). The audit trail holds patient ids
-- by design; cards are pruned after 30 days.
alter table cards add column patient_id text;

alter table feedback add column issuer text;
-- FEEDBACK_RETENTION_DAYS: rows older than the retention are deleted (the counts keep them).
create index feedback_received_at on feedback (received_at);

-- Counts per issuer; what was counted before is kept under '' (no issuer reads it).
alter table feedback_counts add column issuer text not null default '';
alter table feedback_counts drop constraint feedback_counts_pkey;
alter table feedback_counts add primary key (issuer, trial_id, outcome, reason);

-- Issue #20 item 5: a feedback event names the cards it was about.
alter table audit_events add column cards text[];
