import type { RequestIds } from "../db/request-ids";
import type { GroupCommit } from "../db/sqlite/group-commit";
import { sqliteTransactions } from "../db/sqlite/transactions";
import type { Executor } from "../db/transactions";
import { Invoices } from "./invoices";
import { SqliteInvoiceStore } from "./stores/sqlite";

/*
 * TEMPORARY, for bench/repository-micro.ts until it builds
 * `new Invoices(new SqliteInvoiceStore(db, sqliteTransactions()))`.
 * Delete this file and create-invoice.ts then.
 */

/** @deprecated Only carries the database; build the domain over a store instead. */
export class InvoiceRepository {
  constructor(readonly db: Executor) {}
}

/** @deprecated The dependencies createInvoice took before the domain/store split. */
export interface LegacyInvoiceServiceDeps {
  db: Executor;
  writes?: GroupCommit;
  invoices: InvoiceRepository;
  requestIds: RequestIds;
}

export function invoicesFromLegacyDeps(deps: Pick<LegacyInvoiceServiceDeps, "db" | "writes">): Invoices {
  return new Invoices(new SqliteInvoiceStore(deps.db, sqliteTransactions(deps.writes)));
}
