import { sql } from "kysely";
import { withParameters } from "../../db/precompiled";
import { uniqueViolationConstraint } from "../../db/postgres/errors";
import { compileOnly, prepared } from "../../db/postgres/precompiled";
import { ClaimedRequestIds, type RecordedRequest } from "../../db/request-ids";
import type { CustomerRow } from "../../db/schema";
import type { Executor, Transactions } from "../../db/transactions";
import { emailTaken } from "../customers";
import { ID_ORDER, type CustomerFilter, type CustomerOrder, type Cursor, type RowKey } from "../listing";
import { CUSTOMER_COLUMNS } from "../rows";
import type { CustomerChanges, CustomerStore, NewCustomerRow } from "../store";
import { EXACT_COUNT_LIMIT, estimatedTotal } from "../total-size";
import { inOrder, matchingFilter, runsAfter, sortKeyOf, type RowCondition } from "./postgres-query";
import { inIdBatches, readRuns } from "./runs";

/** The partial unique index on live emails, folded as case-insensitive.ts folds them (migrations/postgres). */
const LIVE_EMAIL_KEY = "customers_live_email_key";

// The hottest statements: compiled once, and prepared once per connection (see precompiled.ts).
const SELECT_BY_ID = prepared(
  "customers_by_id",
  compileOnly.selectFrom("customers").select(CUSTOMER_COLUMNS).where("CustomerId", "=", 0n).compile(),
);
const SELECT_BY_IDS = prepared(
  "customers_by_ids",
  compileOnly
    .selectFrom("customers")
    .select(CUSTOMER_COLUMNS)
    .where("CustomerId", "=", (eb) => eb.fn.any(eb.val<bigint[]>([])))
    .compile(),
);

/**
 * Customers in a PostgreSQL database. Writes return the row as PostgreSQL
 * stored it (RETURNING): jsonb keeps its own spelling of `data`, which the
 * etag hashes.
 */
export class PostgresCustomerStore implements CustomerStore {
  constructor(
    private readonly db: Executor,
    private readonly transactions: Transactions,
  ) {}

  write<T>(work: (store: CustomerStore) => Promise<T>): Promise<T> {
    return this.transactions.write(this.db, (tx) => work(this.withTx(tx)));
  }

  batch<T>(work: (store: CustomerStore) => Promise<T>): Promise<T> {
    return this.transactions.batch(this.db, (tx) => work(this.withTx(tx)));
  }

  snapshot<T>(work: (store: CustomerStore) => Promise<T>): Promise<T> {
    return this.transactions.read(this.db, (tx) => work(this.withTx(tx)));
  }

  find(id: bigint): Promise<CustomerRow | undefined> {
    return this.transactions.run(this.db, async () => (await this.db.executeQuery(withParameters(SELECT_BY_ID, [id]))).rows[0]);
  }

  findMany(ids: readonly bigint[]): Promise<Map<bigint, CustomerRow>> {
    return this.transactions.run(this.db, async () => {
      const { rows } = await this.db.executeQuery(withParameters(SELECT_BY_IDS, [[...new Set(ids)]]));
      return new Map(rows.map((row) => [row.CustomerId, row]));
    });
  }

  listRows(filter: CustomerFilter, order: CustomerOrder, cursor: Cursor | undefined, limit: number): Promise<CustomerRow[]> {
    return this.transactions.run(this.db, () => readRuns(runsAfter(order, cursor), limit, (run, left) =>
      inOrder(this.matchingRun(filter, run).select(CUSTOMER_COLUMNS), order).limit(left).execute(),
    ));
  }

  listKeys(filter: CustomerFilter, order: CustomerOrder, cursor: Cursor | undefined, limit: number): Promise<RowKey[]> {
    return this.transactions.run(this.db, () => readRuns(runsAfter(order, cursor), limit, (run, left) => {
      const matching = this.matchingRun(filter, run).select(["CustomerId", sortKeyOf(order).as("sortKey")]);
      return inOrder(matching, order).limit(left).execute();
    }));
  }

  /**
   * Keyset batches, each one statement outside any transaction (inIdBatches):
   * a slow consumer holds no pooled connection between batches.
   */
  stream(filter: CustomerFilter, batchSize: number): AsyncGenerator<CustomerRow> {
    return inIdBatches((cursor, limit) => this.listRows(filter, ID_ORDER, cursor, limit), batchSize);
  }

  /**
   * Planned without sequential scans: the planner reckons a LIMITed Seq Scan
   * stops early, as if matches lay evenly over the table, and on a table past
   * a quarter of shared_buffers the scan starts wherever the last one stopped
   * (synchronize_seqscans). Matches gathered in one part of the table
   * (customers created before a date, a tier handed out last month) then have
   * it read the whole table to count EXACT_COUNT_LIMIT + 1 of them; through
   * the filter's own index it reads the matches alone.
   */
  countMatching(filter: CustomerFilter): Promise<number> {
    return this.transactions.read(this.db, (tx) =>
      withoutSequentialScans(tx, async () => {
        const store = this.withTx(tx);
        const matches = await store.boundedCount(filter);
        if (matches <= EXACT_COUNT_LIMIT) return matches;
        return estimatedTotal({ matches: BigInt(matches), ...(await store.idPositions(filter)) }, EXACT_COUNT_LIMIT);
      }),
    );
  }

  existingEmployees(ids: readonly bigint[]): Promise<Set<bigint>> {
    return this.transactions.run(this.db, async () => {
      const employees = await this.db
        .selectFrom("employees")
        .select("EmployeeId")
        .where("EmployeeId", "=", (eb) => eb.fn.any(eb.val([...ids])))
        .execute();
      return new Set(employees.map((employee) => employee.EmployeeId));
    });
  }

  insert(row: NewCustomerRow): Promise<CustomerRow> {
    return this.transactions.run(this.db, () =>
      refusingDuplicateEmail(() => this.db.insertInto("customers").values(row).returning(CUSTOMER_COLUMNS).executeTakeFirstOrThrow()),
    );
  }

  update(row: CustomerRow, changes: CustomerChanges): Promise<CustomerRow> {
    return this.transactions.run(this.db, () =>
      refusingDuplicateEmail(() =>
        this.db
          .updateTable("customers")
          .set(changes)
          .where("CustomerId", "=", row.CustomerId)
          .returning(CUSTOMER_COLUMNS)
          .executeTakeFirstOrThrow(),
      ),
    );
  }

  /** Claims the id when it is new: a concurrent retry then waits for this one (ClaimedRequestIds). */
  findRequest(operation: string, requestId: string, request: Uint8Array): Promise<RecordedRequest | undefined> {
    return this.transactions.run(this.db, () => new ClaimedRequestIds(this.db).findOrClaim(operation, requestId, request));
  }

  recordRequest(operation: string, requestId: string, _request: Uint8Array, customerId: bigint, response: Uint8Array): Promise<void> {
    return this.transactions.run(this.db, () => new ClaimedRequestIds(this.db).complete(operation, requestId, customerId, response));
  }

  private withTx(tx: Executor): PostgresCustomerStore {
    return new PostgresCustomerStore(tx, this.transactions);
  }

  private matchingRun(filter: CustomerFilter, run: RowCondition) {
    return this.db
      .selectFrom("customers")
      .where((eb) => matchingFilter(eb, filter))
      .where(run);
  }

  /** At most EXACT_COUNT_LIMIT + 1. */
  private async boundedCount(filter: CustomerFilter): Promise<number> {
    const firstMatches = this.db
      .selectFrom("customers")
      .select(sql.lit(1).as("one"))
      .where((eb) => matchingFilter(eb, filter))
      .limit(EXACT_COUNT_LIMIT + 1);
    const { matches } = await this.db
      .selectFrom(firstMatches.as("first_matches"))
      .select((eb) => eb.fn.countAll<bigint>().as("matches"))
      .executeTakeFirstOrThrow();
    return Number(matches);
  }

  /** Where along the ids the first and last matches lie, and those EXACT_COUNT_LIMIT places inwards from them. */
  private idPositions(filter: CustomerFilter) {
    const at = (descending: boolean, offset: number) =>
      this.db
        .selectFrom("customers")
        .select("CustomerId")
        .where((eb) => matchingFilter(eb, filter))
        .orderBy("CustomerId", descending ? "desc" : "asc")
        .limit(1)
        .offset(offset);
    return this.db
      .selectNoFrom([
        at(false, 0).as("firstMatchAt"),
        at(false, EXACT_COUNT_LIMIT).as("frontEndAt"),
        at(true, EXACT_COUNT_LIMIT).as("backStartAt"),
        at(true, 0).as("lastMatchAt"),
      ])
      .executeTakeFirstOrThrow();
  }
}

/**
 * Runs `work` in the open transaction `tx` with sequential scans planned only
 * where nothing else can answer, then puts the setting back: SET LOCAL lasts
 * to the end of the transaction. The service sets enable_seqscan nowhere, so
 * its DEFAULT is the value it had.
 */
async function withoutSequentialScans<T>(tx: Executor, work: () => Promise<T>): Promise<T> {
  await sql`SET LOCAL enable_seqscan = off`.execute(tx);
  const result = await work();
  await sql`SET LOCAL enable_seqscan TO DEFAULT`.execute(tx);
  return result;
}

async function refusingDuplicateEmail<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (uniqueViolationConstraint(error) === LIVE_EMAIL_KEY) throw emailTaken();
    throw error;
  }
}
