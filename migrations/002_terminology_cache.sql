-- A site's terminology server answers (issue #17 item 3: $validate-code, $subsumes, $translate), reused by
-- every replica until they expire (TERMINOLOGY_CACHE_SECONDS). The key is a SHA-256 digest of the server
-- and the question; the value the answer as JSON. No patient data: codes and lists only.
create table terminology_cache (
  key text primary key,
  value text not null,
  expires_at timestamptz not null
);
create index terminology_cache_expires on terminology_cache (expires_at);
