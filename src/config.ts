import path from "node:path";
import type { Level } from "pino";
import { POSTGRES_PROTOCOLS, redactedUrl } from "./db/postgres/url";
import { DEFAULT_SQLITE_SYNCHRONOUS, SQLITE_SYNCHRONOUS_MODES, type SqliteSynchronous } from "./db/sqlite/synchronous";

/**
 * All configuration, read from the environment once and validated here; the
 * rest of the code receives a Config and never reads process.env itself.
 */
export interface Config {
  /** Which engine stores the data: PostgreSQL when DATABASE_URL is set, else SQLite at DATABASE_PATH. */
  database: DatabaseConfig;
  chinook: {
    /** A local chinook.db to copy from instead of downloading. CHINOOK_DB. */
    sourcePath: string | undefined;
    /** Where to download Chinook from (zip or plain file). CHINOOK_URL. */
    downloadUrl: string;
    /** Expected sha256 of the Chinook database. CHINOOK_SHA256. */
    sha256: string;
  };
  /** host:port to serve gRPC on. GRPC_ADDR. */
  grpcAddress: string;
  /** What one gRPC connection, and each stream on it, may hold, and for how long. */
  connectionLimits: ConnectionLimits;
  logLevel: Level;
  /** How long in-flight calls may run after SIGTERM before being cancelled. SHUTDOWN_GRACE_MS. */
  shutdownGraceMs: number;
  /** How often the database health probe runs. HEALTH_PROBE_INTERVAL_MS. */
  healthProbeIntervalMs: number;
  /** host:port for Prometheus' /metrics; no metrics server when unset. METRICS_ADDR. */
  metricsAddress: string | undefined;
  /** The HTTP door: Connect (HTTP/JSON) and gRPC-Web beside gRPC. */
  http: {
    /** host:port to serve it on; off when unset. HTTP_ADDR. */
    address: string | undefined;
    /** Browser origins (`https://app.example`) allowed to call it cross-origin; none when unset. HTTP_CORS_ORIGINS. */
    corsOrigins: readonly string[];
  };
  /** The read cache of customers (GetCustomer, BatchGetCustomers, ListCustomers pages). */
  cache: {
    /** Most customers cached; 0 disables the cache. CACHE_SIZE. */
    maxEntries: number;
    /** Most memory the cached customers may take, roughly, in bytes. CACHE_MAX_BYTES. */
    maxBytes: number;
    /** How long a cached customer may be served, in ms; 0 = until evicted. CACHE_TTL_MS. */
    ttlMs: number;
  };
  /** Background upkeep of the SQLite file; it runs only when no database call is in flight. */
  maintenance: {
    /** Checkpoint and truncate the WAL once it is larger than this. WAL_CHECKPOINT_BYTES. */
    walCheckpointBytes: number;
    /** How often the WAL size and a due optimize are checked. WAL_CHECK_INTERVAL_MS. */
    checkIntervalMs: number;
    /** How often PRAGMA optimize runs (also at shutdown). OPTIMIZE_INTERVAL_MS. */
    optimizeIntervalMs: number;
    /** How long a request_id is remembered; a retry later creates anew. REQUEST_ID_RETENTION_MS. */
    requestIdRetentionMs: number;
  };
  /** TLS for gRPC; plaintext when undefined. */
  tls: TlsConfig | undefined;
  /** The keys in the database that sign page tokens, shared by every process on it. */
  pageTokenKeys: {
    /** A key signs new tokens until it is this old; then a new one does. PAGE_TOKEN_KEY_ROTATION_MS. */
    rotationMs: number;
    /** Tokens signed with a key stay valid this long after a newer key replaced it. PAGE_TOKEN_KEY_RETENTION_MS. */
    retentionMs: number;
  };
  /** OpenTelemetry tracing, from the standard OTEL_* variables (tracingConfig says when it is on). */
  tracing: TracingConfig;
}

export interface TracingConfig {
  /**
   * On when OTEL_TRACES_EXPORTER names an exporter other than none, or an
   * OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
   * is set; off whenever OTEL_SDK_DISABLED is true. The SDK reads the rest of
   * OTEL_* itself; the values it would ignore with a warning are refused here.
   */
  enabled: boolean;
  /**
   * How long one export may take (the OTLP exporter's own bound, which it
   * reads itself), and so how long the stop waits for the last spans.
   * OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, else OTEL_EXPORTER_OTLP_TIMEOUT; 10 s.
   */
  exportTimeoutMs: number;
}

export type DatabaseConfig = SqliteConfig | PostgresConfig;

export interface SqliteConfig {
  engine: "sqlite";
  /** The working database, created from Chinook when missing. DATABASE_PATH. */
  path: string;
  /** Sync the WAL on every commit (FULL) or at checkpoints only (NORMAL). SQLITE_SYNCHRONOUS. */
  synchronous: SqliteSynchronous;
}

export interface PostgresConfig {
  engine: "postgres";
  /** DATABASE_URL, password included: log redactedUrl(url) instead. */
  url: string;
  /** Most connections per process. PG_POOL_SIZE. */
  poolSize: number;
  /** How long opening a connection may take. PG_CONNECT_TIMEOUT_MS. */
  connectTimeoutMs: number;
  /** The server cancels a statement running longer. PG_STATEMENT_TIMEOUT_MS. */
  statementTimeoutMs: number;
}

export interface ConnectionLimits {
  /** A connection whose client has not sent the HTTP/2 preface (after TLS) this soon is closed. GRPC_HANDSHAKE_TIMEOUT_MS. */
  handshakeTimeoutMs: number;
  /** A connection with no call open for this long is closed, with a GOAWAY. GRPC_IDLE_TIMEOUT_MS. */
  idleTimeoutMs: number;
  /** Most calls open at once on one connection; clients queue the others. GRPC_MAX_CONCURRENT_STREAMS. */
  maxConcurrentStreams: number;
  /** How often the server pings each connection. GRPC_KEEPALIVE_TIME_MS. */
  keepaliveTimeMs: number;
  /** A connection whose client leaves a ping unanswered this long is dropped. GRPC_KEEPALIVE_TIMEOUT_MS. */
  keepaliveTimeoutMs: number;
  /**
   * A client's pings closer together than this, with no call open, are
   * strikes; the third closes the connection (GOAWAY ENHANCE_YOUR_CALM,
   * "too_many_pings"). 0 lets a client ping at any rate. GRPC_KEEPALIVE_MIN_TIME_MS.
   */
  keepaliveMinTimeMs: number;
  /** A server stream whose client accepts none of a message for this long ends RESOURCE_EXHAUSTED. GRPC_STREAM_STALL_TIMEOUT_MS. */
  streamStallTimeoutMs: number;
}

/** What a server not configured from the environment (a benchmark's, a test's) gets. */
export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = {
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxConcurrentStreams: 100,
  keepaliveTimeMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  // gRPC's own default (C core and Go): a client pinging an idle connection more often is told to calm down.
  keepaliveMinTimeMs: 300_000,
  // As nginx's send_timeout: a minute without the client taking anything.
  streamStallTimeoutMs: 60_000,
};

export interface TlsConfig {
  /** The server's certificate chain, PEM. TLS_CERT. */
  certPath: string;
  /** Its private key, PEM. TLS_KEY. */
  keyPath: string;
  /** When set, clients must present a certificate issued by this CA (mTLS). TLS_CLIENT_CA. */
  clientCaPath: string | undefined;
}

export class ConfigError extends Error {}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_CHINOOK_URL = "https://www.sqlitetutorial.net/wp-content/uploads/2018/03/chinook.zip";
const DEFAULT_CHINOOK_SHA256 = "a3c903a61357c2059ea51ed5e3d79f33fa5f960cd948829b27f97ea8a4793c82";
const LOG_LEVELS: readonly Level[] = ["fatal", "error", "warn", "info", "debug", "trace"];
const MIB = 1024 * 1024;
const DAY_MS = 86_400_000;
/** Node runs a timer set for longer after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The cache and its admission filter allocate per entry up front. */
const MAX_CACHE_ENTRIES = 1_000_000;

export function loadConfig(env: Env = process.env): Config {
  return {
    database: databaseConfig(env),
    chinook: {
      sourcePath: optionalPath(text(env, "CHINOOK_DB")),
      downloadUrl: url(env, "CHINOOK_URL", DEFAULT_CHINOOK_URL),
      sha256: sha256(env, "CHINOOK_SHA256", DEFAULT_CHINOOK_SHA256),
    },
    grpcAddress: hostPort(env, "GRPC_ADDR", "0.0.0.0:50051"),
    connectionLimits: connectionLimits(env),
    logLevel: oneOf(env, "LOG_LEVEL", LOG_LEVELS, "info"),
    shutdownGraceMs: integer(env, "SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: MAX_TIMER_MS }),
    healthProbeIntervalMs: integer(env, "HEALTH_PROBE_INTERVAL_MS", 5_000, { min: 100, max: MAX_TIMER_MS }),
    metricsAddress: optionalHostPort(env, "METRICS_ADDR"),
    http: {
      address: optionalHostPort(env, "HTTP_ADDR"),
      corsOrigins: origins(env, "HTTP_CORS_ORIGINS"),
    },
    cache: {
      maxEntries: integer(env, "CACHE_SIZE", 10_000, { min: 0, max: MAX_CACHE_ENTRIES }),
      maxBytes: integer(env, "CACHE_MAX_BYTES", 64 * MIB, { min: 1 }),
      ttlMs: integer(env, "CACHE_TTL_MS", 30_000, { min: 0 }),
    },
    maintenance: {
      walCheckpointBytes: integer(env, "WAL_CHECKPOINT_BYTES", 64 * MIB, { min: 0 }),
      checkIntervalMs: integer(env, "WAL_CHECK_INTERVAL_MS", 10_000, { min: 100, max: MAX_TIMER_MS }),
      optimizeIntervalMs: integer(env, "OPTIMIZE_INTERVAL_MS", 3_600_000, { min: 100 }),
      requestIdRetentionMs: integer(env, "REQUEST_ID_RETENTION_MS", 86_400_000, { min: 60_000 }),
    },
    tls: tlsConfig(env),
    pageTokenKeys: {
      rotationMs: integer(env, "PAGE_TOKEN_KEY_ROTATION_MS", 7 * DAY_MS, { min: 60_000 }),
      retentionMs: integer(env, "PAGE_TOKEN_KEY_RETENTION_MS", DAY_MS, { min: 60_000 }),
    },
    tracing: tracingConfig(env),
  };
}

const OTLP_PROTOCOLS = ["http/protobuf", "http/json", "grpc"] as const;
const TRACES_EXPORTERS = ["otlp", "console", "zipkin", "none"];
const TRACES_SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

/** What the OpenTelemetry SDK would warn about and then ignore (its warnings are silent by default) fails the start instead. */
function tracingConfig(env: Env): TracingConfig {
  const disabled = oneOf(env, "OTEL_SDK_DISABLED", ["true", "false"], "false", { ignoreCase: true }) === "true";
  const exporters = traceExporters(env);
  for (const name of ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]) {
    if (text(env, name) !== undefined) oneOf(env, name, OTLP_PROTOCOLS, "http/protobuf");
  }
  const endpoints = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].filter((name) => text(env, name) !== undefined);
  for (const name of endpoints) url(env, name, "");
  const sampler = oneOf(env, "OTEL_TRACES_SAMPLER", TRACES_SAMPLERS, "parentbased_always_on");
  if (sampler.endsWith("traceidratio")) checkRatio(env, "OTEL_TRACES_SAMPLER_ARG");
  // As the SDK reads it: a list that starts with none sets up no exporter.
  const exporting = exporters === undefined ? endpoints.length > 0 : exporters[0] !== "none";
  const timeout = integer(env, "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000, { min: 1, max: MAX_TIMER_MS });
  const exportTimeoutMs = integer(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", timeout, { min: 1, max: MAX_TIMER_MS });
  return { enabled: !disabled && exporting, exportTimeoutMs };
}

/** OTEL_TRACES_EXPORTER's comma-separated names; undefined when unset. */
function traceExporters(env: Env): string[] | undefined {
  const raw = text(env, "OTEL_TRACES_EXPORTER");
  if (raw === undefined) return undefined;
  const names = raw.split(",").map((name) => name.trim());
  const unknown = names.find((name) => !TRACES_EXPORTERS.includes(name));
  if (unknown !== undefined) throw new ConfigError(`OTEL_TRACES_EXPORTER must list ${TRACES_EXPORTERS.join(", ")}, got "${raw}"`);
  return names;
}

function checkRatio(env: Env, name: string): void {
  const raw = text(env, name);
  if (raw !== undefined && !/^(?:0|1|0?\.\d+|1\.0*)$/.test(raw)) {
    throw new ConfigError(`${name} must be a number from 0 to 1, got "${raw}"`);
  }
}

function databaseConfig(env: Env): DatabaseConfig {
  const url = text(env, "DATABASE_URL");
  if (url === undefined) {
    return { engine: "sqlite", path: path.resolve(text(env, "DATABASE_PATH") ?? "data/chinook.db"), synchronous: sqliteSynchronous(env) };
  }
  return {
    engine: "postgres",
    url: postgresUrl(url),
    poolSize: integer(env, "PG_POOL_SIZE", 10, { min: 1, max: 10_000 }),
    connectTimeoutMs: integer(env, "PG_CONNECT_TIMEOUT_MS", 5_000, { min: 1, max: MAX_TIMER_MS }),
    statementTimeoutMs: integer(env, "PG_STATEMENT_TIMEOUT_MS", 30_000, { min: 1, max: MAX_TIMER_MS }),
  };
}

function connectionLimits(env: Env): ConnectionLimits {
  const defaults = DEFAULT_CONNECTION_LIMITS;
  const timeout = { min: 1, max: MAX_TIMER_MS };
  return {
    handshakeTimeoutMs: integer(env, "GRPC_HANDSHAKE_TIMEOUT_MS", defaults.handshakeTimeoutMs, timeout),
    idleTimeoutMs: integer(env, "GRPC_IDLE_TIMEOUT_MS", defaults.idleTimeoutMs, timeout),
    // An HTTP/2 setting is 32 bits; grpc-js's own limits stop at 2^31 - 1.
    maxConcurrentStreams: integer(env, "GRPC_MAX_CONCURRENT_STREAMS", defaults.maxConcurrentStreams, { min: 1, max: MAX_TIMER_MS }),
    keepaliveTimeMs: integer(env, "GRPC_KEEPALIVE_TIME_MS", defaults.keepaliveTimeMs, { min: 1_000, max: MAX_TIMER_MS }),
    keepaliveTimeoutMs: integer(env, "GRPC_KEEPALIVE_TIMEOUT_MS", defaults.keepaliveTimeoutMs, timeout),
    keepaliveMinTimeMs: integer(env, "GRPC_KEEPALIVE_MIN_TIME_MS", defaults.keepaliveMinTimeMs, { min: 0, max: MAX_TIMER_MS }),
    streamStallTimeoutMs: integer(env, "GRPC_STREAM_STALL_TIMEOUT_MS", defaults.streamStallTimeoutMs, timeout),
  };
}

/** The messages quote the URL with its password masked, or not at all. */
function postgresUrl(url: string): string {
  if (!URL.canParse(url)) {
    throw new ConfigError("DATABASE_URL must be a postgres:// or postgresql:// URL (percent-encode reserved characters in the user and password)");
  }
  if (!POSTGRES_PROTOCOLS.includes(new URL(url).protocol)) {
    throw new ConfigError(`DATABASE_URL must be a postgres:// or postgresql:// URL, got "${redactedUrl(url)}"`);
  }
  return url;
}

/** Any case, as SQLite reads it; OFF is refused, as it can corrupt the database on a power loss. */
function sqliteSynchronous(env: Env): SqliteSynchronous {
  const raw = text(env, "SQLITE_SYNCHRONOUS");
  if (raw === undefined) return DEFAULT_SQLITE_SYNCHRONOUS;
  const mode = SQLITE_SYNCHRONOUS_MODES.find((candidate) => candidate === raw.toUpperCase());
  if (mode !== undefined) return mode;
  const why = raw.toUpperCase() === "OFF" ? ": OFF can corrupt the database on a power loss or an OS crash" : "";
  throw new ConfigError(`SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA, got "${raw}"${why}`);
}

function tlsConfig(env: Env): TlsConfig | undefined {
  const certPath = optionalPath(text(env, "TLS_CERT"));
  const keyPath = optionalPath(text(env, "TLS_KEY"));
  const clientCaPath = optionalPath(text(env, "TLS_CLIENT_CA"));
  if (certPath === undefined && keyPath === undefined) {
    if (clientCaPath === undefined) return undefined;
    throw new ConfigError("TLS_CLIENT_CA requires TLS_CERT and TLS_KEY: mTLS is TLS plus client certificates");
  }
  if (certPath === undefined) throw new ConfigError("TLS_KEY is set without TLS_CERT: TLS needs the certificate chain that goes with the key");
  if (keyPath === undefined) throw new ConfigError("TLS_CERT is set without TLS_KEY: TLS needs the private key of the certificate");
  return { certPath, keyPath, clientCaPath };
}

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function optionalPath(value: string | undefined): string | undefined {
  return value === undefined ? undefined : path.resolve(value);
}

function url(env: Env, name: string, fallback: string): string {
  const value = text(env, name) ?? fallback;
  if (!URL.canParse(value)) throw new ConfigError(`${name} must be a URL, got "${value}"`);
  return value;
}

function sha256(env: Env, name: string, fallback: string): string {
  const value = (text(env, name) ?? fallback).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(value)) throw new ConfigError(`${name} must be 64 hex digits`);
  return value;
}

/** Comma-separated origins, each exactly as a browser sends it in Origin: scheme, host, and a port only when not the default. */
function origins(env: Env, name: string): string[] {
  const raw = text(env, name);
  if (raw === undefined) return [];
  return raw.split(",").map((entry) => {
    const origin = entry.trim();
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
      throw new ConfigError(`${name} must list origins such as https://app.example:8443 (no path, no trailing slash), separated by commas; got "${origin}"`);
    }
    return origin;
  });
}

function optionalHostPort(env: Env, name: string): string | undefined {
  const value = text(env, name);
  return value === undefined ? undefined : hostPort(env, name, value);
}

/** A host name or IPv4 address, or an IPv6 address in brackets, then a port: what grpc-js binds as written. */
const HOST_PORT = /^(?:\[[^\]\s]+\]|[^:\s[\]]+):(\d{1,5})$/;

function hostPort(env: Env, name: string, fallback: string): string {
  const value = text(env, name) ?? fallback;
  const port = HOST_PORT.exec(value)?.[1];
  if (port === undefined || Number(port) > 65535) {
    throw new ConfigError(`${name} must be host:port (an IPv6 host in brackets: [::1]:50051), got "${value}"`);
  }
  return value;
}

interface Bounds {
  min: number;
  max?: number;
}

function integer(env: Env, name: string, fallback: number, { min, max = Number.MAX_SAFE_INTEGER }: Bounds): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  // Digits only: Number() would also read "0x10", "1e3" and "" as numbers.
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(`${name} must be a whole number ${range}, got "${raw}"`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T, { ignoreCase = false } = {}): T {
  const raw = text(env, name) ?? fallback;
  const match = allowed.find((value) => value === (ignoreCase ? raw.toLowerCase() : raw));
  if (match === undefined) throw new ConfigError(`${name} must be one of ${allowed.join(", ")}, got "${raw}"`);
  return match;
}
