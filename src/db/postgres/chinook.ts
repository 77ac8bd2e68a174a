/**
 * Creates Chinook's eleven tables on PostgreSQL and copies every row of the
 * (sha256-verified) Chinook SQLite file into them, once: the PostgreSQL
 * counterpart of src/db/bootstrap.ts copying the file. Table names are
 * Chinook's (lower case), column names its PascalCase ones, quoted.
 */
import { sql, type Kysely, type RawBuilder } from "kysely";
import type { Logger } from "pino";
import { withVerifiedChinook, type ChinookOrigin } from "../bootstrap";
import { SqliteDatabase } from "../sqlite/driver";

/**
 * The advisory lock (pg_advisory_xact_lock) that makes two processes starting
 * at once load Chinook once: the second waits, then finds the tables. Any
 * fixed number; this one spells "chinook" in ASCII.
 */
export const CHINOOK_LOAD_LOCK = 0x63_68_69_6e_6f_6f_6bn;

/** Most bind parameters in one INSERT (PostgreSQL allows 65,535). */
const PARAMETERS_PER_INSERT = 30_000;

type ColumnKind = "id" | "bigint" | "text" | "money" | "timestamp";

interface Column {
  name: string;
  kind: ColumnKind;
  /** varchar(n), as Chinook's NVARCHAR(n). */
  length?: number;
  notNull?: boolean;
}

interface Table {
  name: string;
  columns: readonly Column[];
  primaryKey: readonly string[];
  foreignKeys: ReadonlyArray<readonly [column: string, table: string, references: string]>;
  /** Chinook's own indexes (IFK_*), on foreign keys. */
  indexes: ReadonlyArray<readonly [name: string, column: string]>;
}

const id = (name: string): Column => ({ name, kind: "id", notNull: true });
const int = (name: string, notNull = false): Column => ({ name, kind: "bigint", notNull });
const text = (name: string, length: number, notNull = false): Column => ({ name, kind: "text", length, notNull });
const money = (name: string): Column => ({ name, kind: "money", notNull: true });
const timestamp = (name: string, notNull = false): Column => ({ name, kind: "timestamp", notNull });

/** Chinook's tables, in an order where every table comes after those it refers to. */
export const CHINOOK_TABLES: readonly Table[] = [
  {
    name: "artists",
    columns: [id("ArtistId"), text("Name", 120)],
    primaryKey: ["ArtistId"],
    foreignKeys: [],
    indexes: [],
  },
  {
    name: "albums",
    columns: [id("AlbumId"), text("Title", 160, true), int("ArtistId", true)],
    primaryKey: ["AlbumId"],
    foreignKeys: [["ArtistId", "artists", "ArtistId"]],
    indexes: [["IFK_AlbumArtistId", "ArtistId"]],
  },
  {
    name: "employees",
    columns: [
      id("EmployeeId"),
      text("LastName", 20, true),
      text("FirstName", 20, true),
      text("Title", 30),
      int("ReportsTo"),
      timestamp("BirthDate"),
      timestamp("HireDate"),
      text("Address", 70),
      text("City", 40),
      text("State", 40),
      text("Country", 40),
      text("PostalCode", 10),
      text("Phone", 24),
      text("Fax", 24),
      text("Email", 60),
    ],
    primaryKey: ["EmployeeId"],
    foreignKeys: [["ReportsTo", "employees", "EmployeeId"]],
    indexes: [["IFK_EmployeeReportsTo", "ReportsTo"]],
  },
  {
    name: "customers",
    columns: [
      id("CustomerId"),
      text("FirstName", 40, true),
      text("LastName", 20, true),
      text("Company", 80),
      text("Address", 70),
      text("City", 40),
      text("State", 40),
      text("Country", 40),
      text("PostalCode", 10),
      text("Phone", 24),
      text("Fax", 24),
      text("Email", 60, true),
      int("SupportRepId"),
    ],
    primaryKey: ["CustomerId"],
    foreignKeys: [["SupportRepId", "employees", "EmployeeId"]],
    indexes: [["IFK_CustomerSupportRepId", "SupportRepId"]],
  },
  {
    name: "genres",
    columns: [id("GenreId"), text("Name", 120)],
    primaryKey: ["GenreId"],
    foreignKeys: [],
    indexes: [],
  },
  {
    name: "media_types",
    columns: [id("MediaTypeId"), text("Name", 120)],
    primaryKey: ["MediaTypeId"],
    foreignKeys: [],
    indexes: [],
  },
  {
    name: "tracks",
    columns: [
      id("TrackId"),
      text("Name", 200, true),
      int("AlbumId"),
      int("MediaTypeId", true),
      int("GenreId"),
      text("Composer", 220),
      int("Milliseconds", true),
      int("Bytes"),
      money("UnitPrice"),
    ],
    primaryKey: ["TrackId"],
    foreignKeys: [
      ["AlbumId", "albums", "AlbumId"],
      ["GenreId", "genres", "GenreId"],
      ["MediaTypeId", "media_types", "MediaTypeId"],
    ],
    indexes: [
      ["IFK_TrackAlbumId", "AlbumId"],
      ["IFK_TrackGenreId", "GenreId"],
      ["IFK_TrackMediaTypeId", "MediaTypeId"],
    ],
  },
  {
    name: "invoices",
    columns: [
      id("InvoiceId"),
      int("CustomerId", true),
      timestamp("InvoiceDate", true),
      text("BillingAddress", 70),
      text("BillingCity", 40),
      text("BillingState", 40),
      text("BillingCountry", 40),
      text("BillingPostalCode", 10),
      money("Total"),
    ],
    primaryKey: ["InvoiceId"],
    foreignKeys: [["CustomerId", "customers", "CustomerId"]],
    indexes: [["IFK_InvoiceCustomerId", "CustomerId"]],
  },
  {
    name: "invoice_items",
    columns: [id("InvoiceLineId"), int("InvoiceId", true), int("TrackId", true), money("UnitPrice"), int("Quantity", true)],
    primaryKey: ["InvoiceLineId"],
    foreignKeys: [
      ["InvoiceId", "invoices", "InvoiceId"],
      ["TrackId", "tracks", "TrackId"],
    ],
    indexes: [
      ["IFK_InvoiceLineInvoiceId", "InvoiceId"],
      ["IFK_InvoiceLineTrackId", "TrackId"],
    ],
  },
  {
    name: "playlists",
    columns: [id("PlaylistId"), text("Name", 120)],
    primaryKey: ["PlaylistId"],
    foreignKeys: [],
    indexes: [],
  },
  {
    name: "playlist_track",
    columns: [int("PlaylistId", true), int("TrackId", true)],
    primaryKey: ["PlaylistId", "TrackId"],
    foreignKeys: [
      ["PlaylistId", "playlists", "PlaylistId"],
      ["TrackId", "tracks", "TrackId"],
    ],
    indexes: [["IFK_PlaylistTrackTrackId", "TrackId"]],
  },
];

/** The names of Chinook's tables. */
export const CHINOOK_TABLE_NAMES: readonly string[] = CHINOOK_TABLES.map((table) => table.name);

/**
 * Whether Chinook's tables are there: all of them (true), none (false), or
 * some, which is not a database this service made, and an error.
 */
export async function chinookLoaded<DB>(db: Kysely<DB>): Promise<boolean> {
  const { rows } = await sql<{ present: bigint | number | string }>`
    SELECT count(*) AS present FROM unnest(${CHINOOK_TABLE_NAMES}::text[]) AS t(name)
    WHERE to_regclass(quote_ident(t.name)) IS NOT NULL`.execute(db);
  const present = Number(rows[0]?.present ?? 0);
  if (present === 0) return false;
  if (present === CHINOOK_TABLE_NAMES.length) return true;
  throw new Error(
    `the database has ${present} of Chinook's ${CHINOOK_TABLE_NAMES.length} tables (${CHINOOK_TABLE_NAMES.join(", ")}): ` +
      "point DATABASE_URL at an empty database or one this service made",
  );
}

/**
 * Creates Chinook's tables and copies every row of the SQLite file at
 * `sqliteSourcePath` into them (ids kept, every identity sequence then moved
 * past its table's largest id), unless they exist. All in one transaction
 * under an advisory lock: a crash leaves nothing half-loaded, and of two
 * processes starting at once one loads and the other finds it done. Returns
 * whether this call loaded.
 */
export async function loadChinook<DB>(db: Kysely<DB>, sqliteSourcePath: string, logger?: Logger): Promise<boolean> {
  const started = Date.now();
  const rows = await db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${CHINOOK_LOAD_LOCK})`.execute(tx);
    if (await chinookLoaded(tx)) return undefined;
    const source = new SqliteDatabase(sqliteSourcePath, { readonly: true, fileMustExist: true });
    try {
      source.defaultSafeIntegers(true);
      for (const table of CHINOOK_TABLES) await createTable(tx, table);
      const counts: Record<string, number> = {};
      for (const table of CHINOOK_TABLES) counts[table.name] = await copyRows(tx, source, table);
      for (const table of CHINOOK_TABLES) await createIndexes(tx, table);
      for (const table of CHINOOK_TABLES) await moveSequencePastIds(tx, table);
      return counts;
    } finally {
      source.close();
    }
  });
  if (rows === undefined) return false;
  logger?.info({ rows, ms: Date.now() - started }, "loaded Chinook into PostgreSQL");
  return true;
}

/**
 * Loads Chinook unless its tables are there, obtaining and verifying the file
 * (CHINOOK_DB, else a download) only then. Returns whether this call loaded.
 */
export async function ensureChinookLoaded<DB>(db: Kysely<DB>, origin: ChinookOrigin, logger?: Logger): Promise<boolean> {
  if (await chinookLoaded(db)) return false;
  return withVerifiedChinook(origin, (file) => loadChinook(db, file, logger), logger);
}

function columnType(column: Column): RawBuilder<unknown> {
  switch (column.kind) {
    case "id":
      return sql`bigint GENERATED BY DEFAULT AS IDENTITY`;
    case "bigint":
      return sql`bigint`;
    case "text":
      return sql.raw(`varchar(${column.length ?? 255})`);
    case "money":
      return sql`numeric(10,2)`;
    case "timestamp":
      return sql`timestamp`;
  }
}

async function createTable<DB>(tx: Kysely<DB>, table: Table): Promise<void> {
  const columns = table.columns.map(
    (column) => sql`${sql.ref(column.name)} ${columnType(column)}${column.notNull === true ? sql` NOT NULL` : sql``}`,
  );
  const primaryKey = sql`CONSTRAINT ${sql.id(`${table.name}_pkey`)} PRIMARY KEY (${sql.join(table.primaryKey.map((name) => sql.ref(name)))})`;
  const foreignKeys = table.foreignKeys.map(
    ([column, target, references]) => sql`FOREIGN KEY (${sql.ref(column)}) REFERENCES ${sql.table(target)} (${sql.ref(references)})`,
  );
  await sql`CREATE TABLE ${sql.table(table.name)} (${sql.join([...columns, primaryKey, ...foreignKeys])})`.execute(tx);
}

async function createIndexes<DB>(tx: Kysely<DB>, table: Table): Promise<void> {
  for (const [name, column] of table.indexes) {
    await sql`CREATE INDEX ${sql.id(name)} ON ${sql.table(table.name)} (${sql.ref(column)})`.execute(tx);
  }
}

/** Copies the table's rows in multi-row INSERTs; returns how many. */
async function copyRows<DB>(tx: Kysely<DB>, source: InstanceType<typeof SqliteDatabase>, table: Table): Promise<number> {
  const names = table.columns.map((column) => column.name);
  const select = source.prepare(
    `SELECT ${names.map((name) => `"${name}"`).join(", ")} FROM "${table.name}" ORDER BY ${table.primaryKey.map((name) => `"${name}"`).join(", ")}`,
  );
  const batchSize = Math.max(1, Math.floor(PARAMETERS_PER_INSERT / names.length));
  const into = sql`INSERT INTO ${sql.table(table.name)} (${sql.join(names.map((name) => sql.ref(name)))}) VALUES `;
  let batch: RawBuilder<unknown>[] = [];
  let count = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await sql`${into}${sql.join(batch)}`.execute(tx);
    count += batch.length;
    batch = [];
  };
  for (const row of select.iterate() as Iterable<Record<string, unknown>>) {
    batch.push(sql`(${sql.join(table.columns.map((column) => sqlValue(column, row[column.name])))})`);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return count;
}

/**
 * A SQLite value as PostgreSQL should take it: integers (bigint, read with
 * safe integers) as their decimal text, money (a REAL such as 0.99, or an
 * INTEGER such as 99) as exact two-decimal text, DATETIME text as it is.
 */
function sqlValue(column: Column, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (column.kind === "money") {
    if (typeof value === "number") return value.toFixed(2);
    if (typeof value === "bigint") return `${value}.00`;
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** Ids inserted explicitly leave the identity at 1: the next generated id must come after them. */
async function moveSequencePastIds<DB>(tx: Kysely<DB>, table: Table): Promise<void> {
  const identity = table.columns.find((column) => column.kind === "id");
  if (identity === undefined) return;
  await sql`SELECT setval(
    pg_get_serial_sequence(${table.name}, ${identity.name}),
    coalesce((SELECT max(${sql.ref(identity.name)}) FROM ${sql.table(table.name)}), 0) + 1,
    false)`.execute(tx);
}
