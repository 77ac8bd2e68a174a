import type {
  CompiledQuery,
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from "kysely";
import type { Executor } from "../../src/db/transactions";
import { centsToReal, formatCents } from "../../src/invoices/money";
import type { InvoiceStore } from "../../src/invoices/store";
import { PostgresInvoiceStore } from "../../src/invoices/stores/postgres";
import { SqliteInvoiceStore } from "../../src/invoices/stores/sqlite";
import { postgresDatabases, sqliteDatabases, type EngineName } from "./engines";

/** One engine's invoice store over a fresh, migrated Chinook database of its own (engines.ts). */
export interface InvoiceEngine {
  /** The database, for the tests' own reads and writes. */
  readonly db: Executor;
  /** The store on `db`, or on another executor of the same database (a transaction, a recording one). */
  store(db?: Executor): InvoiceStore;
  /** What the engine's driver reads back from a money column holding `cents`. */
  moneyAsStored(cents: bigint): number | bigint | string;
  /** The query plan, one line per step; only engines whose plan the tests check have one. */
  queryPlan?: (query: CompiledQuery) => string[];
  dispose(): Promise<void>;
}

export interface InvoiceEngineSetup {
  readonly name: EngineName;
  open(): Promise<InvoiceEngine>;
}

export const sqliteEngine: InvoiceEngineSetup = {
  name: "sqlite",
  async open() {
    const database = await sqliteDatabases.open();
    return {
      db: database.db,
      store: (db = database.db) => new SqliteInvoiceStore(db, database.transactions),
      // NUMERIC affinity keeps a whole amount as INTEGER, which safe integers read as bigint.
      moneyAsStored: (cents) => (cents % 100n === 0n ? cents / 100n : centsToReal(cents)),
      queryPlan: (query) =>
        database.sqlite.sqlite
          .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${query.sql}`)
          .all(...query.parameters)
          .map((row) => row.detail),
      dispose: () => database.dispose(),
    };
  },
};

export const postgresEngine: InvoiceEngineSetup = {
  name: "postgres",
  async open() {
    const database = await postgresDatabases.open();
    return {
      db: database.db,
      store: (db = database.db) => new PostgresInvoiceStore(db, database.transactions),
      moneyAsStored: formatCents,
      dispose: () => database.dispose(),
    };
  },
};

/** `db`, recording every query it (or a transaction it starts) runs, as compiled for its engine. */
export function recording(db: Executor): { db: Executor; queries: CompiledQuery[] } {
  const queries: CompiledQuery[] = [];
  const plugin: KyselyPlugin = {
    transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
      queries.push(db.getExecutor().compileQuery(node, queryId));
      return node;
    },
    transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return Promise.resolve(result);
    },
  };
  return { db: db.withPlugin(plugin), queries };
}
