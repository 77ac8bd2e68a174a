import { sql, type SqlBool } from "kysely";
import { CustomerStatus } from "../../../gen/chinook/v1/customer_pb";
import { uniqueViolationTarget } from "../../db/sqlite/errors";
import { withParameters } from "../../db/precompiled";
import { compileOnly } from "../../db/sqlite/precompiled";
import { RequestIds, type RecordedRequest } from "../../db/request-ids";
import type { CustomerRow } from "../../db/schema";
import type { Executor, Transactions } from "../../db/transactions";
import { comparesAsNoCase, sameText } from "../case-insensitive";
import { emailTaken, supportRepNotFound } from "../customers";
import { ID_ORDER, type CustomerFilter, type CustomerOrder, type Cursor, type RowKey } from "../listing";
import { CUSTOMER_COLUMNS, INSERTED_COLUMNS, statusToColumn } from "../rows";
import type { CustomerChanges, CustomerStore, NewCustomerRow } from "../store";
import { inOrder, matchingFilter, runsAfter, sortByFor, sortKeyOf, type RowCondition } from "./sqlite-query";
import { inIdBatches, readRuns } from "./runs";
import { estimatedCount } from "./sqlite-total-size";

/** The partial UNIQUE index on live emails reports itself as `customers.Email`. */
const EMAIL_UNIQUE_TARGET = "customers.Email";
const DELETED = statusToColumn(CustomerStatus.DELETED);
/** Ids are positive: excluding this one excludes nobody. */
const NO_CUSTOMER = 0n;

// The hottest statements, compiled once (see compileOnly).
const SELECT_BY_ID = compileOnly.selectFrom("customers").select(CUSTOMER_COLUMNS).where("CustomerId", "=", 0n).compile();
/**
 * Inserts nothing when the support rep names no employee: the check costs no
 * statement of its own. Parameters: INSERTED_COLUMNS, then the rep twice.
 */
const INSERT_CUSTOMER = compileOnly
  .insertInto("customers")
  .columns(INSERTED_COLUMNS)
  .expression(
    compileOnly
      .selectNoFrom(INSERTED_COLUMNS.map((column) => sql`${null}`.as(column)))
      .where((eb) =>
        eb.or([
          sql<SqlBool>`${null} is null`,
          eb.exists(eb.selectFrom("employees").select("EmployeeId").where("EmployeeId", "=", sql<bigint>`${null}`)),
        ]),
      ),
  )
  .returning("CustomerId")
  .compile();
const SELECT_EMPLOYEE = compileOnly.selectFrom("employees").select("EmployeeId").where("EmployeeId", "=", 0n).compile();

/**
 * Customers in a SQLite database. Writes return the row as written without
 * reading it back: SQLite stores the values it is given as they are.
 */
export class SqliteCustomerStore implements CustomerStore {
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
      const rows = await this.db
        .selectFrom("customers")
        .select(CUSTOMER_COLUMNS)
        .where("CustomerId", "in", [...new Set(ids)])
        .execute();
      return new Map(rows.map((row) => [row.CustomerId, row]));
    });
  }

  listRows(filter: CustomerFilter, order: CustomerOrder, cursor: Cursor | undefined, limit: number): Promise<CustomerRow[]> {
    return this.transactions.run(this.db, () => readRuns(runsAfter(order, cursor, sortByFor(filter)), limit, (run, left) => {
      const matching = this.matchingRun(filter, run).select(CUSTOMER_COLUMNS);
      return inOrder(matching, order, sortByFor(filter)).limit(left).execute();
    }));
  }

  listKeys(filter: CustomerFilter, order: CustomerOrder, cursor: Cursor | undefined, limit: number): Promise<RowKey[]> {
    return this.transactions.run(this.db, () => readRuns(runsAfter(order, cursor, sortByFor(filter)), limit, (run, left) => {
      const matching = this.matchingRun(filter, run).select(["CustomerId", sortKeyOf(order).as("sortKey")]);
      return inOrder(matching, order, sortByFor(filter)).limit(left).execute();
    }));
  }

  /** Keyset batches, each its own statement (inIdBatches): no statement stays open between batches. */
  stream(filter: CustomerFilter, batchSize: number): AsyncGenerator<CustomerRow> {
    return inIdBatches((cursor, limit) => this.listRows(filter, ID_ORDER, cursor, limit), batchSize);
  }

  countMatching(filter: CustomerFilter): Promise<number> {
    return this.transactions.run(this.db, () => estimatedCount(this.db, filter));
  }

  employeeExists(id: bigint): Promise<boolean> {
    return this.transactions.run(this.db, () => this.hasEmployee(id));
  }

  /**
   * The INSERT checks the support rep itself; an ASCII email is left to the
   * unique index alone (see requireEmailFree). An email beyond ASCII is
   * looked up first, after the support rep, which the domain reports first.
   */
  insert(row: NewCustomerRow): Promise<CustomerRow> {
    const rep = row.SupportRepId;
    return this.transactions.run(this.db, async () => {
      if (!comparesAsNoCase(row.Email)) {
        if (rep !== null && !(await this.hasEmployee(rep))) throw supportRepNotFound(rep);
        await this.requireEmailFree(row.Email);
      }
      const parameters = [...INSERTED_COLUMNS.map((column) => row[column]), rep, rep];
      const [inserted] = (await refusingDuplicateEmail(() => this.db.executeQuery(withParameters(INSERT_CUSTOMER, parameters)))).rows;
      if (inserted === undefined && rep !== null) throw supportRepNotFound(rep);
      if (inserted === undefined) throw new Error("INSERT … RETURNING returned no row");
      return { CustomerId: inserted.CustomerId, ...row };
    });
  }

  /** Its lookups and the INSERT in the write's transaction, committed with the turn's other writes (group commit). */
  insertAlone(row: NewCustomerRow): Promise<CustomerRow> {
    return this.transactions.writeStatement(this.db, (tx) => this.withTx(tx).insert(row));
  }

  /**
   * Sets only the columns that change: SQLite rewrites the entries of every
   * index on a column an UPDATE sets, changed or not.
   */
  update(row: CustomerRow, changes: CustomerChanges): Promise<CustomerRow> {
    return this.transactions.run(this.db, async () => {
      const undeleting = row.status === DELETED && changes.status !== undefined && changes.status !== DELETED;
      if (changes.Email !== undefined || undeleting) await this.requireEmailFree(changes.Email ?? row.Email, row.CustomerId);
      await refusingDuplicateEmail(() =>
        this.db.updateTable("customers").set(changes).where("CustomerId", "=", row.CustomerId).execute(),
      );
      return { ...row, ...changes };
    });
  }

  findRequest(operation: string, requestId: string, request: Uint8Array): Promise<RecordedRequest | undefined> {
    return this.transactions.run(this.db, () => new RequestIds(this.db).find(operation, requestId, request));
  }

  recordRequest(operation: string, requestId: string, request: Uint8Array, customerId: bigint, response: Uint8Array): Promise<void> {
    return this.transactions.run(this.db, () => new RequestIds(this.db).record(operation, requestId, request, customerId, response));
  }

  private withTx(tx: Executor): SqliteCustomerStore {
    return new SqliteCustomerStore(tx, this.transactions);
  }

  private matchingRun(filter: CustomerFilter, run: RowCondition) {
    return this.db
      .selectFrom("customers")
      .where((eb) => matchingFilter(eb, filter))
      .where(run);
  }

  private async hasEmployee(id: bigint): Promise<boolean> {
    return (await this.db.executeQuery(withParameters(SELECT_EMPLOYEE, [id]))).rows.length > 0;
  }

  /**
   * ALREADY_EXISTS when a live customer other than `ownerId` has this email but
   * for case. The unique index folds only ASCII (NOCASE): alone it would let
   * "STANISŁAW.WÓJCIK@WP.PL" past a live "stanisław.wójcik@wp.pl". Checked in
   * the write's transaction, which holds SQLite's one write lock; for ASCII the
   * index guards on its own.
   */
  private async requireEmailFree(email: string, ownerId?: bigint): Promise<void> {
    const holder = await this.db
      .selectFrom("customers")
      .select("CustomerId")
      .where((eb) => eb.and([sameText(eb, "Email", email), eb("status", "<>", DELETED)]))
      .where("CustomerId", "<>", ownerId ?? NO_CUSTOMER)
      .executeTakeFirst();
    if (holder !== undefined) throw emailTaken();
  }
}

async function refusingDuplicateEmail<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (uniqueViolationTarget(error) === EMAIL_UNIQUE_TARGET) throw emailTaken();
    throw error;
  }
}
