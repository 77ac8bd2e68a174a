import type DataLoader from "dataloader";
import { DatabaseError } from "pg";
import { sql, type CompiledQuery, type RawBuilder, type SelectQueryBuilder, type SqlBool } from "kysely";
import { withParameters } from "../../db/precompiled";
import { oneBatchAtATime } from "../../db/postgres/batches";
import { uniqueViolationConstraint } from "../../db/postgres/errors";
import { compileOnly, prepared, preparedByText } from "../../db/postgres/precompiled";
import { ClaimedRequestIds, type RecordedRequest } from "../../db/request-ids";
import type { CustomerRow, Database } from "../../db/schema";
import type { Executor, Transactions } from "../../db/transactions";
import { emailTaken, supportRepNotFound } from "../customers";
import { ID_ORDER, type CustomerFilter, type CustomerOrder, type Cursor, type RowKey } from "../listing";
import { CUSTOMER_COLUMNS, INSERTED_COLUMNS } from "../rows";
import type { CustomerChanges, CustomerStore, NewCustomerRow, SnapshotPlan } from "../store";
import { EXACT_COUNT_LIMIT, estimatedTotal } from "../total-size";
import { inOrder, matchingFilter, planIsValueFree, runsAfter, sortKeyOf, type RowCondition } from "./postgres-query";
import { inIdBatches, readRuns } from "./runs";

/**
 * Most finds one statement gathers; more go in statements beside it, sent
 * together on connections of their own and so read by backends of their own
 * at once (a backend's random reads go in turn). With 16 GetCustomer calls in
 * flight at 1M rows, 8 served 4,206–5,586 gets/s against 3,197–4,046 with 100,
 * in 4 alternating runs (bench/RESULTS.md).
 */
const MAX_FIND_BATCH = 8;

/**
 * The LIMITs a listing's statement is written with: the limit asked, rounded
 * up to the next of these. With the LIMIT a parameter, PostgreSQL reckons the
 * generic plan of a prepared page dearer than a custom one and plans every
 * page anew (~0.1 ms of its CPU, twice what running it takes); written in, it
 * keeps one generic plan per shape when that costs no more, and the shapes
 * stay few. A page of 50 reads 51 rows (one to tell whether more follow).
 */
const LIMIT_STEPS = [2, 11, 26, 51, 101, 251, 501, 1001];

function limitStep(limit: number): number {
  return LIMIT_STEPS.find((step) => step >= limit) ?? limit;
}

/** The partial unique index on live emails, folded as case-insensitive.ts folds them (migrations/postgres). */
const LIVE_EMAIL_KEY = "customers_live_email_key";

// The hottest statements: compiled once, and prepared once per connection (see precompiled.ts).
const SELECT_BY_ID = prepared(
  "customers_by_id",
  compileOnly.selectFrom("customers").select(CUSTOMER_COLUMNS).where("CustomerId", "=", 0n).compile(),
);
const SELECT_BY_ID_LISTS = new Map<number, CompiledQuery<CustomerRow>>();

/**
 * The statement finding `length` ids, `length` a power of two: findMany
 * writes the number of ids in, as a listing writes its LIMIT. With the ids
 * one array parameter, PostgreSQL reckons the generic plan for ten ids and a
 * custom plan for fewer cheaper, so it planned every batch of a few finds
 * anew (~0.1 ms of its CPU, more than running it); with their number in the
 * text both cost the same, and it keeps one generic plan per length.
 */
function selectByIdList(length: number): CompiledQuery<CustomerRow> {
  let query = SELECT_BY_ID_LISTS.get(length);
  if (query === undefined) {
    const ids = Array.from({ length }, () => 0n);
    query = prepared(`customers_by_ids_${length}`, compileOnly.selectFrom("customers").select(CUSTOMER_COLUMNS).where("CustomerId", "in", ids).compile());
    SELECT_BY_ID_LISTS.set(length, query);
  }
  return query;
}

/** `ids` without duplicates, padded with the last to a power of two in length (PostgreSQL reads each row once). */
function idList(ids: readonly bigint[]): bigint[] {
  const distinct = [...new Set(ids)];
  const last = distinct[distinct.length - 1];
  if (last === undefined) return distinct;
  const length = 2 ** Math.ceil(Math.log2(distinct.length));
  return distinct.concat(Array.from({ length: length - distinct.length }, () => last));
}

const SELECT_EMPLOYEE = prepared(
  "employee_by_id",
  compileOnly.selectFrom("employees").select("EmployeeId").where("EmployeeId", "=", 0n).compile(),
);

/**
 * Inserts nothing when the support rep (the last two parameters) names no
 * employee, before the email's unique index is asked: one statement checks
 * both, in the order the domain reports them. PostgreSQL types the selected
 * parameters by the columns they are inserted into.
 */
const INSERT_CUSTOMER = prepared(
  "customers_insert",
  compileOnly
    .insertInto("customers")
    .columns(INSERTED_COLUMNS)
    .expression(
      compileOnly
        .selectNoFrom(INSERTED_COLUMNS.map((column) => sql`${null}`.as(column)))
        .where((eb) =>
          eb.or([
            sql<SqlBool>`${null}::bigint is null`,
            eb.exists(eb.selectFrom("employees").where("EmployeeId", "=", sql<bigint>`${null}`)),
          ]),
        ),
    )
    .returning(CUSTOMER_COLUMNS)
    .compile(),
);

/** Most creates one statement gathers; more go in a statement beside it. */
const MAX_INSERT_BATCH = 100;

/** The type each inserted column travels as, one array of them per column (INSERT_CUSTOMERS). */
const INSERTED_ARRAY_TYPES: Record<(typeof INSERTED_COLUMNS)[number], string> = {
  FirstName: "text",
  LastName: "text",
  Company: "text",
  Address: "text",
  City: "text",
  State: "text",
  Country: "text",
  PostalCode: "text",
  Phone: "text",
  Fax: "text",
  Email: "text",
  SupportRepId: "bigint",
  status: "bigint",
  data: "jsonb",
  created_at: "timestamptz",
  updated_at: "timestamptz",
};

/**
 * Several new customers in one statement, one array parameter per column:
 * each row gets its id first (`input`), so that the rows inserted are told
 * apart by their place in the arrays (`ordinal`). A row whose support rep
 * names no employee, or whose email a live customer has, is skipped, not
 * refused (ON CONFLICT DO NOTHING): the others are inserted all the same, and
 * insertAlone runs each skipped row alone for its own answer. Rows go in by
 * folded email, as the live-email index orders them, so that two batches
 * holding the same emails wait for each other in one order, never in a
 * deadlock; of two rows with one email, the earlier call's wins.
 */
const INSERT_CUSTOMERS = prepared(
  "customers_insert_batch",
  sql<CustomerRow & { ordinal: number }>`WITH input AS (
  SELECT nextval(pg_get_serial_sequence('customers', 'CustomerId')) AS "CustomerId", input.*
  FROM unnest(${sql.join(INSERTED_COLUMNS.map((column) => sql`${null}::${sql.raw(INSERTED_ARRAY_TYPES[column])}[]`))})
    WITH ORDINALITY AS input(${columnList(INSERTED_COLUMNS)}, ordinal)
), inserted AS (
  INSERT INTO customers ("CustomerId", ${columnList(INSERTED_COLUMNS)})
  SELECT "CustomerId", ${columnList(INSERTED_COLUMNS)} FROM input
  WHERE "SupportRepId" IS NULL OR EXISTS (SELECT FROM employees WHERE "EmployeeId" = input."SupportRepId")
  ORDER BY chinook_fold("Email") COLLATE "C", ordinal
  ON CONFLICT DO NOTHING
  RETURNING ${columnList(CUSTOMER_COLUMNS)}
)
SELECT inserted.*, input.ordinal::int4 AS ordinal FROM inserted JOIN input USING ("CustomerId")`.compile(compileOnly),
);

function columnList(columns: ReadonlyArray<keyof CustomerRow>): RawBuilder<unknown> {
  return sql.join(columns.map((column) => sql.ref(column)));
}

/**
 * Customers in a PostgreSQL database. Writes return the row as PostgreSQL
 * stored it (RETURNING): jsonb keeps its own spelling of `data`, which the
 * etag hashes.
 */
export class PostgresCustomerStore implements CustomerStore {
  /**
   * Finds outside a transaction, gathered into findMany statements of up to
   * MAX_FIND_BATCH while the one before is in flight (oneBatchAtATime):
   * concurrent GetCustomer calls share a round trip instead of a checkout, a
   * write, a backend wake-up and a read each. Made on the first such find.
   */
  private finds: DataLoader<bigint, CustomerRow | undefined> | undefined;
  /** Creates without a request_id, gathered as the finds are (insertAlone). Made on the first. */
  private inserts: DataLoader<NewCustomerRow, CustomerRow> | undefined;

  constructor(
    private readonly db: Executor,
    private readonly transactions: Transactions,
    /** Inside a listing's snapshot only: the total its first page counted. */
    private readonly snapshotTotal?: SnapshotTotal,
  ) {}

  write<T>(work: (store: CustomerStore) => Promise<T>): Promise<T> {
    return this.transactions.write(this.db, (tx) => work(this.withTx(tx)));
  }

  batch<T>(work: (store: CustomerStore) => Promise<T>): Promise<T> {
    return this.transactions.batch(this.db, (tx) => work(this.withTx(tx)));
  }

  /**
   * A listing's snapshot: when it counts, a first page read in it (no cursor)
   * carries the count and estimate of total_size in the same statement, and
   * countMatching answers from it. ListCustomers is then BEGIN and that
   * statement in one round trip, and COMMIT. A page that is not counted needs
   * no transaction: it is one statement, or takes a snapshot for its runs
   * (readPage).
   */
  snapshot<T>(work: (store: CustomerStore) => Promise<T>, plan?: SnapshotPlan): Promise<T> {
    if (plan?.counts === false && !this.db.isTransaction) return work(this);
    const counted = plan?.counts === false ? undefined : new SnapshotTotal();
    return this.transactions.read(this.db, (tx) => work(new PostgresCustomerStore(tx, this.transactions, counted)));
  }

  find(id: bigint): Promise<CustomerRow | undefined> {
    if (!this.db.isTransaction) {
      this.finds ??= oneBatchAtATime((ids) => this.foundInOrder(ids), MAX_FIND_BATCH);
      return this.finds.load(id);
    }
    return this.transactions.run(this.db, async () => (await this.db.executeQuery(withParameters(SELECT_BY_ID, [id]))).rows[0]);
  }

  findMany(ids: readonly bigint[]): Promise<Map<bigint, CustomerRow>> {
    const list = idList(ids);
    if (list.length === 0) return Promise.resolve(new Map());
    return this.transactions.run(this.db, async () => {
      const { rows } = await this.db.executeQuery(withParameters(selectByIdList(list.length), list));
      return new Map(rows.map((row) => [row.CustomerId, row]));
    });
  }

  listRows(filter: CustomerFilter, order: CustomerOrder, cursor: Cursor | undefined, limit: number): Promise<CustomerRow[]> {
    const counting = this.countingFirstPage(cursor, limit);
    if (counting !== undefined) {
      return this.transactions.run(this.db, () =>
        this.firstPageCounting(counting, filter, order, limit, this.matchingRun(filter, everyRow).select(CUSTOMER_COLUMNS)),
      );
    }
    const plannedOnce = planIsValueFree(filter, order);
    return this.readPage(order, cursor, limit, (store, run, left) =>
      store.readListing(inOrder(store.matchingRun(filter, run).select(CUSTOMER_COLUMNS), order), plannedOnce, left),
    );
  }

  listKeys(filter: CustomerFilter, order: CustomerOrder, cursor: Cursor | undefined, limit: number): Promise<RowKey[]> {
    const keysOf = (store: PostgresCustomerStore, run: RowCondition) =>
      store.matchingRun(filter, run).select(["CustomerId", sortKeyOf(order).as("sortKey")]);
    const counting = this.countingFirstPage(cursor, limit);
    if (counting !== undefined) {
      return this.transactions.run(this.db, () => this.firstPageCounting(counting, filter, order, limit, keysOf(this, everyRow)));
    }
    const plannedOnce = planIsValueFree(filter, order);
    return this.readPage(order, cursor, limit, (store, run, left) => store.readListing(inOrder(keysOf(store, run), order), plannedOnce, left));
  }

  /**
   * Keyset batches, each one statement outside any transaction (inIdBatches):
   * a slow consumer holds no pooled connection between batches.
   */
  stream(filter: CustomerFilter, batchSize: number): AsyncGenerator<CustomerRow> {
    return inIdBatches((cursor, limit) => this.listRows(filter, ID_ORDER, cursor, limit), batchSize);
  }

  /**
   * In a listing's snapshot; answered from the snapshot's first page when that
   * page counted already. Planned without sequential scans, as every
   * statement of the service's sessions (openPostgres), because the planner
   * reckons a LIMITed Seq Scan stops early, as if matches lay evenly over the
   * table, and on a table past a quarter of shared_buffers the scan starts
   * wherever the last one stopped (synchronize_seqscans). Matches gathered in
   * one part of the table (customers created before a date, a tier handed
   * out last month) then have it read the whole table to count
   * EXACT_COUNT_LIMIT + 1 of them; through the filter's own index it reads
   * the matches alone.
   */
  countMatching(filter: CustomerFilter): Promise<number> {
    if (this.snapshotTotal === undefined) return this.snapshot((store) => store.countMatching(filter));
    const counted = this.snapshotTotal.of(filter);
    if (counted !== undefined) return Promise.resolve(counted);
    return this.transactions.run(this.db, async () => {
      const { sample } = await this.db.selectNoFrom(matchSample(this.db, filter).as("sample")).executeTakeFirstOrThrow();
      return totalOf(sample);
    });
  }

  employeeExists(id: bigint): Promise<boolean> {
    return this.transactions.run(this.db, async () => (await this.db.executeQuery(withParameters(SELECT_EMPLOYEE, [id]))).rows.length > 0);
  }

  insert(row: NewCustomerRow): Promise<CustomerRow> {
    const parameters = [...INSERTED_COLUMNS.map((column) => row[column]), row.SupportRepId, row.SupportRepId];
    return this.transactions.run(this.db, () =>
      refusingDuplicateEmail(async () => {
        const [inserted] = (await this.db.executeQuery(withParameters(INSERT_CUSTOMER, parameters))).rows;
        if (inserted === undefined && row.SupportRepId !== null) throw supportRepNotFound(row.SupportRepId);
        if (inserted === undefined) throw new Error("INSERT … RETURNING returned no row");
        return inserted;
      }),
    );
  }

  /**
   * Outside a transaction, gathered with the creates made while the statement
   * before is in flight into one autocommitted statement (INSERT_CUSTOMERS):
   * one round trip, one commit and one WAL flush for all of them.
   */
  insertAlone(row: NewCustomerRow): Promise<CustomerRow> {
    if (this.db.isTransaction) return this.insert(row);
    this.inserts ??= oneBatchAtATime((rows) => this.insertedInOrder(rows), MAX_INSERT_BATCH);
    return this.inserts.load(row);
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

  /**
   * `rows` inserted, or the error each one met. A row the batch skipped, or
   * every row of a batch PostgreSQL refused (nothing of it was written), is
   * inserted alone. A batch whose answer never came (a lost connection) may
   * have been written: its rows are answered with that error, never run again.
   */
  private async insertedInOrder(rows: readonly NewCustomerRow[]): Promise<Array<CustomerRow | Error>> {
    const inserted = rows.length > 1 ? await this.insertedTogether(rows).catch(asError) : [];
    if (inserted instanceof Error) return rows.map(() => inserted);
    return Promise.all(rows.map((row, index) => inserted[index] ?? this.insertedOnItsOwn(row).catch(asError)));
  }

  /**
   * The rows one statement inserted, by place in `rows`; none when PostgreSQL
   * refused it. Fails, as one write, only when its answer never came.
   */
  private insertedTogether(rows: readonly NewCustomerRow[]): Promise<Array<CustomerRow | undefined>> {
    const columns = INSERTED_COLUMNS.map((column) => rows.map((row) => row[column]));
    return this.transactions.writeStatement(this.db, async (db) => {
      try {
        const inserted = await db.executeQuery(withParameters(INSERT_CUSTOMERS, columns));
        const byPlace: Array<CustomerRow | undefined> = [];
        for (const { ordinal, ...row } of inserted.rows) byPlace[ordinal - 1] = row;
        return byPlace;
      } catch (error) {
        if (error instanceof DatabaseError) return [];
        throw error;
      }
    });
  }

  /** One statement, atomic alone: outside a transaction it costs one round trip, not three. */
  private insertedOnItsOwn(row: NewCustomerRow): Promise<CustomerRow> {
    return this.transactions.writeStatement(this.db, (db) => new PostgresCustomerStore(db, this.transactions).insert(row));
  }

  private async foundInOrder(ids: readonly bigint[]): Promise<Array<CustomerRow | undefined>> {
    const found = await this.findMany(ids);
    return ids.map((id) => found.get(id));
  }

  private withTx(tx: Executor): PostgresCustomerStore {
    return new PostgresCustomerStore(tx, this.transactions);
  }

  /**
   * A page read from its runs (runsAfter) in turn: one statement, atomic
   * alone, when there is one run; in a snapshot of its own when there are
   * more and none is open, so that no row moving between runs meanwhile is
   * read twice or missed.
   */
  private readPage<R>(
    order: CustomerOrder,
    cursor: Cursor | undefined,
    limit: number,
    readRun: (store: PostgresCustomerStore, run: RowCondition, limit: number) => Promise<R[]>,
  ): Promise<R[]> {
    const runs = runsAfter(order, cursor);
    if (runs.length > 1 && !this.db.isTransaction) {
      return this.transactions.read(this.db, (tx) => this.withTx(tx).readPage(order, cursor, limit, readRun));
    }
    return this.transactions.run(this.db, () => readRuns(runs, limit, (run, left) => readRun(this, run, left)));
  }

  /** In a listing's snapshot, a first page counts its total as it reads (snapshot()): where to keep it. */
  private countingFirstPage(cursor: Cursor | undefined, limit: number): SnapshotTotal | undefined {
    return cursor === undefined && limit > 0 ? this.snapshotTotal : undefined;
  }

  /**
   * The first `limit` matches in `order` (`selection`'s columns), with the
   * sample of total_size in the same statement, so on the same data. No row
   * means no match: the total is 0.
   */
  private async firstPageCounting<R>(
    counted: SnapshotTotal,
    filter: CustomerFilter,
    order: CustomerOrder,
    limit: number,
    selection: SelectQueryBuilder<Database, "customers", R>,
  ): Promise<R[]> {
    const page = inOrder(selection.select(matchSample(this.db, filter).as("sample")), order);
    const rows = await this.readListing(page, planIsValueFree(filter, order), limit);
    counted.remember(filter, rows[0] === undefined ? 0 : totalOf(rows[0].sample));
    return rows.map(withoutSample) as R[];
  }

  /**
   * The first `limit` rows of a listing's statement, its LIMIT written in as
   * the next of LIMIT_STEPS (the rows past `limit` are read and dropped).
   * `plannedOnce` (planIsValueFree: its plan reads only matching rows,
   * whatever the values) prepares it once per shape and connection
   * (preparedByText); otherwise it goes unnamed, planned for its values every
   * time: a generic plan reckons with an average match, and by last name
   * walked the whole index for a country and tier matching nothing (1M rows:
   * 5.7 s, against 0.5 ms planned for the values).
   */
  private async readListing<R>(query: SelectQueryBuilder<Database, "customers", R>, plannedOnce: boolean, limit: number): Promise<R[]> {
    const compiled = query.limit(sql.lit(limitStep(limit))).compile();
    const statement = plannedOnce ? preparedByText("customers_page", compiled) : compiled;
    const { rows } = await this.db.executeQuery(statement);
    return rows.length > limit ? rows.slice(0, limit) : rows;
  }

  private matchingRun(filter: CustomerFilter, run: RowCondition) {
    return this.db
      .selectFrom("customers")
      .where((eb) => matchingFilter(eb, filter))
      .where(run);
  }
}

const everyRow: RowCondition = () => sql<SqlBool>`true`;

/** What matchSample selects, as pg reads an int8[]: each element's text, or null. */
type SampleColumn = ReadonlyArray<string | null>;

/**
 * total_size's sample of the matches of `filter` (total-size.ts), as one
 * int8[]: how many match, counted up to EXACT_COUNT_LIMIT + 1; past that
 * limit, then where along the ids the first and last matches lie and those
 * EXACT_COUNT_LIMIT places inwards from them (the ends of the first and of
 * the last EXACT_COUNT_LIMIT + 1 matches by id). An uncorrelated subquery,
 * which PostgreSQL runs once per statement; the ends are read only when the
 * CASE reaches them.
 */
function matchSample(db: Executor, filter: CustomerFilter): RawBuilder<SampleColumn> {
  const matching = () => db.selectFrom("customers").where((eb) => matchingFilter(eb, filter));
  const firstMatches = matching().select(sql.lit(1).as("one")).limit(EXACT_COUNT_LIMIT + 1);
  const ends = (descending: boolean) => {
    const matches = matching().select("CustomerId").orderBy("CustomerId", descending ? "desc" : "asc").limit(EXACT_COUNT_LIMIT + 1);
    return sql`(SELECT ARRAY[min(${sql.ref("CustomerId")}), max(${sql.ref("CustomerId")})] FROM (${matches}) AS matches)`;
  };
  return sql<SampleColumn>`(SELECT ARRAY[counted.matches] || CASE WHEN counted.matches > ${sql.lit(EXACT_COUNT_LIMIT)} THEN ${ends(false)} || ${ends(true)} END
    FROM (SELECT count(*) AS matches FROM (${firstMatches}) AS first_matches) AS counted)`;
}

function totalOf(sample: SampleColumn): number {
  const [matches, firstMatchAt, frontEndAt, backStartAt, lastMatchAt] = sample.map((value) => (value === null ? null : BigInt(value)));
  return estimatedTotal(
    {
      matches: matches ?? 0n,
      firstMatchAt: firstMatchAt ?? null,
      frontEndAt: frontEndAt ?? null,
      backStartAt: backStartAt ?? null,
      lastMatchAt: lastMatchAt ?? null,
    },
    EXACT_COUNT_LIMIT,
  );
}

function withoutSample<R extends { sample: SampleColumn }>({ sample: _sample, ...row }: R): Omit<R, "sample"> {
  return row;
}

/** The total a snapshot's first page counted, for the filter it counted. */
class SnapshotTotal {
  private counted: { filter: CustomerFilter; total: number } | undefined;

  remember(filter: CustomerFilter, total: number): void {
    this.counted = { filter, total };
  }

  /** Known for this very filter (the domain passes one object to listRows and countMatching). */
  of(filter: CustomerFilter): number | undefined {
    return this.counted?.filter === filter ? this.counted.total : undefined;
  }
}

async function refusingDuplicateEmail<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (uniqueViolationConstraint(error) === LIVE_EMAIL_KEY) throw emailTaken();
    throw error;
  }
}

/** What DataLoader rejects a load with: an Error of this realm (a driver's may come from another). */
function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error), { cause: error });
}
