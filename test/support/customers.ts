import { sql } from "kysely";
import { Customers, type CustomersOptions } from "../../src/customers/customers";
import type { CustomerStore } from "../../src/customers/store";
import { PostgresCustomerStore } from "../../src/customers/stores/postgres";
import { SqliteCustomerStore } from "../../src/customers/stores/sqlite";
import type { Executor, Transactions } from "../../src/db/transactions";
import type { EngineDatabase, EngineName } from "./engines";

/** What the customer tests need of each engine beyond its database. */
interface CustomerEngineParts {
  store(db: Executor, transactions: Transactions): CustomerStore;
  /** The tags the tag filter finds a customer by, in byte order. */
  indexedTags(db: Executor, id: bigint): Promise<string[]>;
}

const PARTS: Record<EngineName, CustomerEngineParts> = {
  sqlite: {
    store: (db, transactions) => new SqliteCustomerStore(db, transactions),
    // Rows of customer_tags, which triggers keep in step with `data`.
    indexedTags: async (db, id) => {
      const rows = await db.selectFrom("customer_tags").select("tag").where("CustomerId", "=", id).orderBy("tag").execute();
      return rows.map((row) => row.tag);
    },
  },
  postgres: {
    store: (db, transactions) => new PostgresCustomerStore(db, transactions),
    // The tags array inside `data`, which a GIN index serves as it is.
    indexedTags: async (db, id) => {
      const { rows } = await sql<{ tag: string }>`
        SELECT jsonb_array_elements_text(data->'tags') COLLATE "C" AS tag FROM customers WHERE ${sql.ref("CustomerId")} = ${id} ORDER BY 1
      `.execute(db);
      return rows.map((row) => row.tag);
    },
  },
};

/** The customers domain over the engine's store on `db`: its database, a transaction, or a logging Kysely on it. */
export function customersOn(engine: EngineDatabase, db: Executor = engine.db, options?: CustomersOptions): Customers {
  return new Customers(PARTS[engine.name].store(db, engine.transactions), options);
}

export function indexedTags(engine: EngineDatabase, id: bigint): Promise<string[]> {
  return PARTS[engine.name].indexedTags(engine.db, id);
}
