import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Pool } from 'pg';
import { PROJECT_ROOT } from '../../paths.js';
import { inTransaction } from './transaction.js';

export const MIGRATIONS_DIR = resolve(PROJECT_ROOT, 'migrations');

/** Any fixed number: every replica takes the same advisory lock, so two starting together apply once. */
const MIGRATION_LOCK = 7_412_001;

/**
 * Applies the numbered SQL files in migrations/ (NNN_name.sql) not yet in schema_migrations, in order, in one
 * transaction under a transaction-level advisory lock: the second replica waits, then finds them applied.
 * A failing file rolls everything back and stops the service.
 */
export async function migrate(pool: Pool, dir = MIGRATIONS_DIR): Promise<{ applied: number[] }> {
  const files = readdirSync(dir)
    .map((f) => /^(\d+)_[a-z0-9_-]+\.sql$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: Number(m[1]), file: m[0] }))
    .sort((a, b) => a.version - b.version);
  const applied: number[] = [];
  await inTransaction(pool, async (client) => {
    await client.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('create table if not exists schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())');
    const done = new Set((await client.query<{ version: number }>('select version from schema_migrations')).rows.map((r) => r.version));
    for (const { version, file } of files) {
      if (done.has(version)) continue;
      await client.query(readFileSync(resolve(dir, file), 'utf8'));
      await client.query('insert into schema_migrations (version, name) values ($1, $2)', [version, file]);
      applied.push(version);
    }
  });
  return { applied };
}
