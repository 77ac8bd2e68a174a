import { Kysely, PostgresDialect, type LogConfig } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import type { Database as Schema } from "../schema";
import type { OtherWrites } from "../other-writes";
import { preparingPool } from "./preparing-pool";
import { watchOtherWrites } from "./snapshot-watch";
import { redactedUrl } from "./url";

export { redactedUrl } from "./url";

/** What the service calls itself in pg_stat_activity. */
export const APPLICATION_NAME = "chinook-grpc";

/** Type OIDs (pg_type.oid) whose text the pool reads its own way. */
const OID = {
  int8: 20,
  json: 114,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  jsonb: 3802,
} as const;

/** How long the health probe waits for `SELECT 1`. */
const PROBE_TIMEOUT_MS = 2_000;

export interface PostgresOptions {
  /** Most connections the pool opens. PG_POOL_SIZE. */
  poolSize?: number;
  /** How long opening a connection may take. PG_CONNECT_TIMEOUT_MS. */
  connectTimeoutMs?: number;
  /** The server cancels a statement running longer (statement_timeout). PG_STATEMENT_TIMEOUT_MS. */
  statementTimeoutMs?: number;
  /** Kysely's query log hook, e.g. for debug logs and metrics. */
  log?: LogConfig;
  /** Where errors of idle connections are logged; they never crash the process. */
  logger?: Logger;
  /**
   * Lets the planner choose sequential scans, which the service's sessions
   * refuse (enable_seqscan = off) unless one is the only way: each of its
   * statements has an index to read through, and a LIMITed Seq Scan, reckoned
   * to stop early as if matches lay evenly over the table, may read all of it
   * (stores/postgres.ts). For loading and migrating, which read whole tables.
   */
  sequentialScans?: boolean;
}

export interface PostgresDatabase {
  /** The typed query builder every repository uses. */
  readonly db: Kysely<Schema>;
  /** The driver's pool, for metrics (totalCount, idleCount, waitingCount) and raw access. */
  readonly pool: pg.Pool;
  /** The URL with its password masked: the only form of it fit for a log line. */
  readonly redactedUrl: string;
  /** True when the server answers `SELECT 1` within a short timeout; never throws. */
  isReachable(): Promise<boolean>;
  /** Whether any transaction committed since the last call (this process's own too), from a snapshot taken after the call. */
  otherWrites(): Promise<OtherWrites>;
  close(): Promise<void>;
}

/**
 * Opens a pool on `url` (postgres:// or postgresql://; `sslmode` and the other
 * parameters pg understands are read from it) that hands rows back as the
 * SQLite path does, so one row mapping serves both engines:
 *
 * - int8 → bigint (every integer column is bigint; so is count(*));
 * - numeric → its exact text ("0.99"): money is never a float;
 * - timestamptz → `YYYY-MM-DDTHH:MM:SS.mmmZ`, as the SQLite path stores times;
 * - timestamp → its raw text `YYYY-MM-DD HH:MM:SS`, Chinook's InvoiceDate on SQLite;
 * - json and jsonb → their raw text, not parsed (`data` is read as text);
 * - bytea stays a Buffer.
 *
 * The parsers are the pool's own: pg's global ones stay untouched.
 */
export function openPostgres(url: string, options: PostgresOptions = {}): PostgresDatabase {
  const connectionString = withSessionSettings(url, options.sequentialScans === true ? SESSION_SETTINGS : [...SESSION_SETTINGS, "enable_seqscan=off"]);
  const poolConfig: pg.PoolConfig = {
    connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    application_name: APPLICATION_NAME,
    types: TYPES,
  };
  // Pipelined: a transaction's BEGIN travels with its first statement (preparing-pool.ts). pg then
  // refuses cursors on these connections; listings and exports read keyset pages instead.
  const pool = new pg.Pool({ ...poolConfig, pipeline: true });
  // The probe has a connection of its own: a pool busy with long queries is not an unreachable server.
  const probe = new pg.Pool({ ...poolConfig, max: 1, idleTimeoutMillis: 30_000, query_timeout: PROBE_TIMEOUT_MS });
  const redacted = redactedUrl(url);
  for (const [name, target] of [["pool", pool], ["probe", probe]] as const) {
    // A connection the server drops (a restart, pg_terminate_backend) emits "error" on its client,
    // checked out or not; pg-pool listens only while it is idle, and an unheard "error" ends the process.
    target.on("connect", (client) => {
      client.on("error", (error) => {
        options.logger?.warn({ err: error, database: redacted, pool: name }, "a PostgreSQL connection failed");
      });
    });
    // pg-pool re-emits an idle client's error here after dropping it; the client's listener has logged it.
    target.on("error", () => undefined);
  }
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }), log: options.log });
  return {
    db,
    pool,
    redactedUrl: redacted,
    isReachable: () => isReachable(probe),
    otherWrites: watchOtherWrites(pool),
    close: async () => {
      await db.destroy();
      // Kysely ends the pool only when it ran a query on it.
      if (!pool.ended) await pool.end();
      if (!probe.ended) await probe.end();
    },
  };
}

/**
 * Every session's settings. UTC makes timestamptz text the UTC instant; ISO
 * makes timestamp text `YYYY-MM-DD HH:MM:SS` whatever the server's DateStyle.
 */
const SESSION_SETTINGS = ["TimeZone=UTC", "DateStyle=ISO"];

/**
 * Session settings go in the startup packet's `options`, added to any the URL
 * has: pg takes `options` from the URL over the pool config, so they go into
 * the URL.
 */
function withSessionSettings(url: string, settings: readonly string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // URL's own error quotes the input, password included.
    throw new Error("the PostgreSQL URL is not a valid URL");
  }
  const own = settings.map((setting) => `-c ${setting}`).join(" ");
  const given = parsed.searchParams.get("options");
  parsed.searchParams.set("options", given === null || given.trim() === "" ? own : `${given} ${own}`);
  return parsed.toString();
}

type TextParser = (value: string) => unknown;

const identity: TextParser = (value) => value;

/** The text of a UTC timestamptz (TimeZone=UTC) of years 0001–9999, with its fraction's first three digits. */
const UTC_TIMESTAMPTZ = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,3})\d{0,3})?\+00$/;

/**
 * timestamptz text (in UTC, any precision) as the ISO text of its
 * millisecond. The session's own form is rewritten in place (0.1 µs, against
 * 1.1 µs through a Date, twice per customer read); anything else goes
 * through pg's parser.
 */
const timestamptzParser: TextParser = (() => {
  const fallback = pg.types.getTypeParser(OID.timestamptz, "text") as (value: string) => unknown;
  return (value) => {
    const utc = UTC_TIMESTAMPTZ.exec(value);
    if (utc !== null) return `${utc[1]}T${utc[2]}.${(utc[3] ?? "").padEnd(3, "0")}Z`;
    const parsed = fallback(value);
    // infinity and -infinity have no ISO form: their text goes through as it is.
    return parsed instanceof Date && Number.isFinite(parsed.getTime()) ? parsed.toISOString() : value;
  };
})();

const OWN_PARSERS: ReadonlyMap<number, TextParser> = new Map<number, TextParser>([
  [OID.int8, (value) => BigInt(value)],
  [OID.numeric, identity],
  [OID.timestamptz, timestamptzParser],
  [OID.timestamp, identity],
  [OID.json, identity],
  [OID.jsonb, identity],
]);

function getTypeParser(oid: number, format: "text" | "binary" = "text"): unknown {
  const own = format === "text" ? OWN_PARSERS.get(oid) : undefined;
  return own ?? pg.types.getTypeParser(oid, format);
}

const TYPES: pg.CustomTypesConfig = { getTypeParser: getTypeParser as pg.CustomTypesConfig["getTypeParser"] };

async function isReachable(probe: pg.Pool): Promise<boolean> {
  if (probe.ended) return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
  });
  const answer = probe.query("SELECT 1").then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
