import type { Pool, PoolClient } from 'pg';

/**
 * Runs `work` on one connection inside BEGIN … COMMIT; any error rolls back (a rollback that fails too is
 * dropped, the first error is what the caller sees) and the connection goes back to the pool either way.
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
