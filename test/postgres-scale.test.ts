/**
 * The plans PostgreSQL makes, on a customers table at scale, for the
 * statements the customer store sends: ListCustomers by loyalty tier, by tag,
 * by country and tier, in every order, its keyset pages and its count, and
 * GetCustomer and BatchGetCustomers. None may read customers with a Seq Scan.
 * The statements are the store's own, recorded through Kysely's log while
 * the domain answers, then replayed in order on one connection (transaction,
 * SET LOCAL and all) with each SELECT explained with its real parameters.
 */
import type { CompiledQuery } from "kysely";
import type pg from "pg";
import { LoyaltyTier } from "../gen/chinook/v1/customer_pb";
import { Customers, type CustomerFilter, type CustomerOrder } from "../src/customers/customers";
import { ORDER_FIELDS, pagingBinding } from "../src/customers/listing";
import { PostgresCustomerStore } from "../src/customers/stores/postgres";
import { encodePageToken, type CursorValue } from "../src/db/paging";
import { openPostgres, type PostgresDatabase } from "../src/db/postgres/connection";
import { preparedName } from "../src/db/postgres/precompiled";
import { postgresTransactions } from "../src/db/postgres/transactions";
import { freshPostgresDatabase, type TestPostgresDatabase } from "./support/postgres";
import { addSyntheticCustomers } from "./support/postgres-scale";

/**
 * Enough customers for a million's plans. A LIMITed plan's cost depends on
 * the share of rows that match, not on their number: walking an index in
 * order until a page is full costs the same at any size, while a Seq Scan, or
 * a bitmap of every match then sorted, grows with the table. At 100,000 each
 * statement here reads through the index it reads through at 1,000,000
 * (PLAN_TEST_CUSTOMERS=1000000 shows it, in a minute and a half); only runs
 * of a few hundred rows (customers without a country, a rare country and
 * tier) are still sorted from a bitmap rather than walked. Building them takes
 * 6 to 8 s of the test's 10 to 13 s on two busy cores.
 */
const CUSTOMERS = Number(process.env.PLAN_TEST_CUSTOMERS ?? 100_000);

const EVERY_ORDER: readonly CustomerOrder[] = ORDER_FIELDS.flatMap((field) => [
  { field, descending: false },
  { field, descending: true },
]);
const BY_ID: CustomerOrder = { field: "customer_id", descending: false };
const LIVE: CustomerFilter = { showDeleted: false };
const GOLD: CustomerFilter = { loyaltyTier: LoyaltyTier.GOLD, showDeleted: false };
const VIP: CustomerFilter = { tag: "vip", showDeleted: false };

interface FilterCase {
  name: string;
  filter: CustomerFilter;
  /** The index total_size's bounded count reads the matches from: the filter's own. */
  countedThrough: string;
}

const FILTERS: readonly FilterCase[] = [
  { name: "no filter", filter: LIVE, countedThrough: "customers_status_idx" },
  { name: "loyalty tier (gold, 18%)", filter: GOLD, countedThrough: "customers_live_tier_idx" },
  {
    name: "loyalty tier (platinum, 6%)",
    filter: { loyaltyTier: LoyaltyTier.PLATINUM, showDeleted: false },
    countedThrough: "customers_live_tier_idx",
  },
  { name: "tag (10%)", filter: VIP, countedThrough: "customers_tags_idx" },
  {
    name: "country and loyalty tier (4%)",
    filter: { country: "USA", loyaltyTier: LoyaltyTier.GOLD, showDeleted: false },
    countedThrough: "customers_live_country_tier_idx",
  },
  {
    name: "country and loyalty tier (0.1%)",
    filter: { country: "Sweden", loyaltyTier: LoyaltyTier.PLATINUM, showDeleted: false },
    countedThrough: "customers_live_country_tier_idx",
  },
];

/** One node of EXPLAIN (FORMAT JSON)'s tree. */
interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  /** "InitPlan" or "SubPlan" for a subquery's plan. */
  "Parent Relationship"?: string;
  Plans?: PlanNode[];
}

interface Planned {
  sql: string;
  /** The plan's nodes, indented by depth. */
  plan: string[];
  /** The nodes of its subqueries' plans (total_size's sample, beside a page), indented by depth. */
  subqueryPlan: string[];
  seqScans: string[];
}

let database: TestPostgresDatabase;
let connection: PostgresDatabase;
let store: PostgresCustomerStore;
/** A domain of its own per call, so that no estimate it reported again spares a count its plan. */
const customers = () => new Customers(store);
const sent: CompiledQuery[] = [];

beforeAll(async () => {
  database = await freshPostgresDatabase();
  connection = openPostgres(database.url, {
    poolSize: 1,
    statementTimeoutMs: 600_000,
    log: (event) => {
      if (event.level === "query") sent.push(event.query);
    },
  });
  await addSyntheticCustomers(connection, CUSTOMERS);
  store = new PostgresCustomerStore(connection.db, postgresTransactions());
}, 600_000);

afterAll(async () => {
  await connection.close();
  await database.drop();
});

/** The plans of the SELECTs `work` sends. */
async function plansOf(work: () => Promise<unknown>): Promise<Planned[]> {
  sent.length = 0;
  await work();
  return replayExplaining(sent.splice(0));
}

/** Runs `statements` again in order on one connection, a SELECT as its EXPLAIN. */
async function replayExplaining(statements: readonly CompiledQuery[]): Promise<Planned[]> {
  const client = await connection.pool.connect();
  try {
    const plans: Planned[] = [];
    for (const statement of statements) {
      if (/^select\b/i.test(statement.sql)) plans.push(planned(statement, await explain(client, statement)));
      else await client.query(statement.sql, [...statement.parameters]);
    }
    client.release();
    return plans;
  } catch (error) {
    // Maybe inside a transaction the store opened: the connection goes, not back to the pool.
    client.release(true);
    throw error;
  }
}

async function explain(client: pg.PoolClient, statement: CompiledQuery): Promise<PlanNode> {
  return planOf(statement, await client.query(`EXPLAIN (FORMAT JSON) ${statement.sql}`, [...statement.parameters]));
}

/** The plan PostgreSQL keeps for `statement` prepared, once it judges a generic plan no dearer than one for the values. */
async function explainGeneric(statement: CompiledQuery): Promise<PlanNode> {
  return planOf(statement, await connection.pool.query(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${statement.sql}`));
}

function planOf(statement: CompiledQuery, explained: pg.QueryResult<{ "QUERY PLAN"?: string }>): PlanNode {
  const [plan] = JSON.parse(explained.rows[0]?.["QUERY PLAN"] ?? "[]") as Array<{ Plan: PlanNode }>;
  if (plan === undefined) throw new Error(`no plan for ${statement.sql}`);
  return plan.Plan;
}

function planned(statement: CompiledQuery, root: PlanNode): Planned {
  const plan: string[] = [];
  const subqueryPlan: string[] = [];
  const seqScans: string[] = [];
  visit(root, 0, false, (node, depth, inSubquery) => {
    plan.push(`${"  ".repeat(depth)}${nodeLabel(node)}`);
    if (inSubquery) subqueryPlan.push(`${"  ".repeat(depth)}${nodeLabel(node)}`);
    if (node["Node Type"] === "Seq Scan" && node["Relation Name"] === "customers") seqScans.push(nodeLabel(node));
  });
  return { sql: statement.sql, plan, subqueryPlan, seqScans };
}

function visit(node: PlanNode, depth: number, inSubquery: boolean, action: (node: PlanNode, depth: number, inSubquery: boolean) => void): void {
  const subquery = inSubquery || node["Parent Relationship"] === "InitPlan" || node["Parent Relationship"] === "SubPlan";
  action(node, depth, subquery);
  for (const child of node.Plans ?? []) visit(child, depth + 1, subquery, action);
}

function nodeLabel(node: PlanNode): string {
  const index = node["Index Name"] === undefined ? "" : ` using ${node["Index Name"]}`;
  const relation = node["Relation Name"] === undefined ? "" : ` on ${node["Relation Name"]}`;
  return `${node["Node Type"]}${index}${relation}`;
}

/** Every `plans` that `select` picks reads through `index`. */
function expectThrough(plans: readonly Planned[], select: (planned: Planned) => boolean, index: string): void {
  const picked = plans.filter(select);
  expect(picked.length).toBeGreaterThan(0);
  for (const planned of picked) {
    const through = planned.plan.some((node) => node.includes(` using ${index}`)) ? index : "another way";
    expect({ ...planned, through }).toEqual({ ...planned, through: index });
  }
}

const isCount = (planned: Planned) => /\bcount\(\*\)/.test(planned.sql);

function expectNoSeqScan(plans: readonly Planned[]): void {
  expect(plans.length).toBeGreaterThan(0);
  // The whole plan and its SQL in the expectation, so that a failure shows them.
  for (const planned of plans) expect(planned).toEqual({ ...planned, seqScans: [] });
}

/** The first page with its count, and the page after it. */
function pagePlans(filter: CustomerFilter, order: CustomerOrder): Promise<Planned[]> {
  return plansOf(async () => {
    const page = await customers().list({ filter, order, pageSize: 50, pageToken: "" });
    if (page.nextPageToken === "") throw new Error(`one page holds every customer matching ${JSON.stringify(filter)}`);
    await customers().list({ filter, order, pageSize: 50, pageToken: page.nextPageToken });
  });
}

function laterPagePlans(order: CustomerOrder, cursor: CursorValue[]): Promise<Planned[]> {
  const pageToken = encodePageToken(pagingBinding(LIVE, order), cursor, CUSTOMERS);
  return plansOf(() => customers().list({ filter: LIVE, order, pageSize: 50, pageToken }));
}

/** A cursor halfway along each order's key. */
function midwayCursor(order: CustomerOrder): CursorValue[] {
  const id = BigInt(Math.floor(CUSTOMERS / 2));
  switch (order.field) {
    case "customer_id":
      return [null, id];
    case "create_time":
    case "update_time":
      return ["2019-09-15T12:00:00.000Z", id];
    default:
      return ["M", id];
  }
}

describe(`customers on PostgreSQL, ${CUSTOMERS.toLocaleString("en-US")} of them`, () => {
  // Rows the store's filters did not recognize would make every plan here trivially cheap.
  it("match the filters as often as the plans are meant for", async () => {
    const shareMatching = async (filter: CustomerFilter) =>
      (await customers().list({ filter, order: BY_ID, pageSize: 1, pageToken: "" })).totalSize / CUSTOMERS;
    expect(await shareMatching(LIVE)).toBeCloseTo(0.99, 1);
    expect(await shareMatching(GOLD)).toBeCloseTo(0.18, 1);
    expect(await shareMatching(VIP)).toBeCloseTo(0.1, 1);
  });

  it.each(FILTERS)("lists by $name in every order through indexes, counting through $countedThrough", async ({ filter, countedThrough }) => {
    for (const order of EVERY_ORDER) {
      const plans = await pagePlans(filter, order);
      expectNoSeqScan(plans);
      expectThrough(plans, isCount, countedThrough);
    }
  });

  // An index on an expression over data is never read alone: every match would cost a heap fetch.
  it.each([GOLD, { country: "USA", loyaltyTier: LoyaltyTier.GOLD, showDeleted: false }])(
    "counts and estimates the matches of %j from an index alone",
    async (filter) => {
      // The first page's statement, which samples them as it reads the page.
      const totals = (await pagePlans(filter, BY_ID)).filter(isCount);
      expect(totals).toHaveLength(1);
      for (const planned of totals) {
        const scans = planned.subqueryPlan.filter((node) => / on customers$/.test(node)).map((node) => node.trim().replace(/ using .*/, ""));
        expect({ ...planned, scans: [...new Set(scans)] }).toEqual({ ...planned, scans: ["Index Only Scan"] });
      }
    },
  );

  it.each(EVERY_ORDER)("seeks the page after a cursor midway along %j through an index", async (order) => {
    expectNoSeqScan(await laterPagePlans(order, midwayCursor(order)));
  });

  it.each([false, true])("seeks the page after a cursor among the customers without a country (descending: %j)", async (descending) => {
    expectNoSeqScan(await laterPagePlans({ field: "country", descending }, [null, 1000n]));
  });

  it("gets and batch-gets customers by id through the primary key", async () => {
    const plans = [
      ...(await plansOf(() => customers().get(BigInt(Math.floor(CUSTOMERS / 3))))),
      ...(await plansOf(() => customers().batchGet([1n, BigInt(Math.floor(CUSTOMERS / 2)), BigInt(CUSTOMERS - 1)]))),
    ];
    expect(plans).toHaveLength(2);
    // Not merely no Seq Scan: an index led by another column, walked whole, is no better.
    expectThrough(plans, () => true, "customers_pkey");
  });

  // A prepared statement runs its generic plan from its sixth call on when PostgreSQL reckons it no
  // dearer (the LIMIT and the number of ids are written in for that). For a filter's values a generic
  // plan could walk an order's index past every row, so only statements that no plan can do that for
  // are prepared, and their generic plans must read as the plans made for their values do.
  // EXPLAIN (GENERIC_PLAN) is PostgreSQL 16's; the embedded server is 18.
  it("prepares only statements whose generic plan reads through the indexes a plan for their values reads", async () => {
    const { rows } = await connection.pool.query<{ version: number }>("SELECT current_setting('server_version_num')::int AS version");
    if ((rows[0]?.version ?? 0) < 160_000) return;
    sent.length = 0;
    for (const { filter } of FILTERS) {
      for (const order of EVERY_ORDER) {
        const page = await customers().list({ filter, order, pageSize: 50, pageToken: "" });
        await customers().list({ filter, order, pageSize: 50, pageToken: page.nextPageToken });
      }
    }
    await customers().get(1n);
    await customers().batchGet([1n, 2n, 3n]);
    const isPreparedSelect = (statement: CompiledQuery) => preparedName(statement.sql) !== undefined && /^select\b/i.test(statement.sql);
    const prepared = [...new Map(sent.splice(0).filter(isPreparedSelect).map((statement) => [statement.sql, statement])).values()];
    const forTheirValues = await replayExplaining(prepared);

    // Every order of the unfiltered listing, the filtered ones in id order, first and later pages, and the finds.
    expect(prepared.length).toBeGreaterThanOrEqual(2 * EVERY_ORDER.length + 2 * (FILTERS.length - 2));
    // The indexes read, however: a plan for a rare value may gather its few matches in a bitmap and sort them.
    const readThrough = (planned: Planned) => [...new Set(planned.plan.flatMap((node) => / using (\S+)/.exec(node)?.[1] ?? []))].sort();
    for (const [index, statement] of prepared.entries()) {
      const generic = planned(statement, await explainGeneric(statement));
      expect({ sql: generic.sql, readThrough: readThrough(generic) }).toEqual({ sql: statement.sql, readThrough: readThrough(forTheirValues[index] ?? generic) });
    }
  });

  // With the ids one array parameter, PostgreSQL reckoned its generic plan (for ten ids) dearer than
  // a plan made for a few, and planned every batch of finds anew.
  it("plans a batch of finds once per connection, not every batch: the number of ids, rounded up, is in the statement", async () => {
    const ids = [1n, 2n, BigInt(Math.floor(CUSTOMERS / 2)), BigInt(CUSTOMERS - 2), BigInt(CUSTOMERS - 1)];
    const planCounts = async () => {
      const { rows } = await connection.pool.query<{ custom: bigint; generic: bigint }>(
        "SELECT coalesce(sum(custom_plans), 0)::bigint AS custom, coalesce(sum(generic_plans), 0)::bigint AS generic FROM pg_prepared_statements WHERE name LIKE 'customers_by_ids%'",
      );
      const [counts] = rows;
      if (counts === undefined) throw new Error("sum() answered no row");
      return counts;
    };
    const before = await planCounts();
    for (let call = 0; call < 12; call++) expect((await store.findMany(ids)).size).toBe(ids.length);
    const after = await planCounts();

    // PostgreSQL plans for the values five times, then keeps the generic plan when it costs no more.
    expect({ custom: after.custom - before.custom, generic: after.generic - before.generic }).toEqual({ custom: 5n, generic: 7n });
  });
});
