import { LRUCache } from "lru-cache";
import { Counter, type Registry } from "prom-client";
import type { Customer } from "../../gen/chinook/v1/customer_pb";
import type { CustomerRow } from "../db/schema";
import { freezeMessage } from "../grpc/frozen-messages";
import { Doorkeeper } from "./doorkeeper";
import { CUSTOMER_COLUMNS, customerFromRow } from "./rows";
import { sizeBoundOnce } from "./size";

export interface RowMemoOptions {
  /** Most customers remembered, ≥ 1. */
  maxEntries: number;
  /** Most memory they may take, as customerSizeBound counts a customer and its row. */
  maxBytes: number;
  registry: Registry;
}

interface Remembered {
  row: CustomerRow;
  customer: Customer;
}

/**
 * customerFromRow, remembered per customer for as long as its row reads back
 * the same. Every read still reads the row from the database, so what it
 * serves is what the database holds now, whoever wrote it: only the mapping
 * is saved. A row read again unchanged gives the same frozen Customer, and so
 * the encoding computed for it once (frozen-messages.ts), without hashing its
 * etag, parsing its profile or building its message again. For PostgreSQL,
 * whose reads go to the database whenever any transaction has committed
 * since the read cache last asked (main.ts).
 *
 * As in the read cache, a customer is remembered on its second read while
 * its id is among the last misses (Doorkeeper): random reads over a million
 * rows would otherwise only churn.
 */
export class RowMemo {
  private readonly entries: LRUCache<bigint, Remembered>;
  private readonly doorkeeper: Doorkeeper;
  private readonly reused: Counter;
  private readonly mapped: Counter;

  constructor(options: RowMemoOptions) {
    this.entries = new LRUCache<bigint, Remembered>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: ({ row, customer }) => sizeBoundOnce(customer) + (row.data?.length ?? 0),
    });
    this.doorkeeper = new Doorkeeper(options.maxEntries);
    const registers = [options.registry];
    this.reused = new Counter({
      name: "customer_row_memo_hits_total",
      help: "Customers read whose row was unchanged since a recent read: mapped and encoded then, not again.",
      registers,
    });
    this.mapped = new Counter({ name: "customer_row_memo_misses_total", help: "Customers read and mapped from their row.", registers });
  }

  /** customerFromRow(row), frozen when remembered: the caller must not change it. */
  customerOf(row: CustomerRow): Customer {
    const remembered = this.entries.get(row.CustomerId);
    if (remembered !== undefined && sameRow(remembered.row, row)) {
      this.reused.inc();
      return remembered.customer;
    }
    this.mapped.inc();
    const customer = customerFromRow(row);
    if (remembered === undefined && !this.doorkeeper.admits(row.CustomerId)) return customer;
    this.entries.set(row.CustomerId, { row, customer: freezeMessage(customer) });
    return customer;
  }
}

function sameRow(a: CustomerRow, b: CustomerRow): boolean {
  return CUSTOMER_COLUMNS.every((column) => a[column] === b[column]);
}
