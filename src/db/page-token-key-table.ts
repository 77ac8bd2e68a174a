import type { PageTokenKeyStore, StoredPageTokenKey } from "./page-token-keys";
import type { Executor, Transactions } from "./transactions";

/**
 * page_token_keys on either engine: these statements are the same on SQLite
 * and PostgreSQL as Kysely compiles them for each (INSERT … ON CONFLICT DO
 * NOTHING included), and both pools read the rows alike (id as bigint, the
 * secret as a Buffer, created_at as ISO text). The engine's units of work
 * (`transactions`) wait for SQLite's write lock or retry PostgreSQL's
 * serialization failures, as a store's do.
 */
export class PageTokenKeyTable implements PageTokenKeyStore {
  constructor(
    private readonly db: Executor,
    private readonly transactions: Transactions,
  ) {}

  list(): Promise<StoredPageTokenKey[]> {
    return this.transactions.run(this.db, async () => {
      const rows = await this.db.selectFrom("page_token_keys").select(["id", "secret", "created_at"]).orderBy("id").execute();
      return rows.map((row) => ({ id: Number(row.id), secret: row.secret, createdAt: new Date(row.created_at) }));
    });
  }

  add(key: StoredPageTokenKey, retiredThrough: number | undefined): Promise<void> {
    return this.transactions.batch(this.db, async (tx) => {
      await tx
        .insertInto("page_token_keys")
        .values({ id: key.id, secret: Buffer.from(key.secret), created_at: key.createdAt.toISOString() })
        .onConflict((conflict) => conflict.column("id").doNothing())
        .execute();
      if (retiredThrough !== undefined) await tx.deleteFrom("page_token_keys").where("id", "<=", BigInt(retiredThrough)).execute();
    });
  }
}
