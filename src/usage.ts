/** `--help` or `-h` among a command's arguments: it prints its usage, does nothing else, and exits 0. */
export function asksForHelp(argv: readonly string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

/** What `node dist/src/main.js --help` (and `npm start -- --help`) prints. */
export const SERVICE_USAGE = `usage: node dist/src/main.js        (npm start builds dist/ first, then runs it)

Serves chinook.v1.CustomerService and InvoiceService over gRPC until SIGTERM or
SIGINT. It takes no arguments: every setting is an environment variable
(README.md, "Configuration", says more).

Storage
  DATABASE_PATH                the working SQLite database, created from Chinook when missing (data/chinook.db)
  SQLITE_SYNCHRONOUS           FULL syncs the SQLite WAL on every commit; NORMAL only at checkpoints, faster but a
                               power loss may lose the last acknowledged writes; or EXTRA (FULL)
  DATABASE_URL                 postgres://user:password@host:5432/db: serve from PostgreSQL instead (unset: SQLite)
  PG_POOL_SIZE                 most PostgreSQL connections this process opens (10)
  PG_CONNECT_TIMEOUT_MS        how long opening a PostgreSQL connection may take (5000)
  PG_STATEMENT_TIMEOUT_MS      PostgreSQL cancels a statement running longer (30000)
  CHINOOK_DB                   a local chinook.db to copy instead of downloading
  CHINOOK_URL                  where to download Chinook from, zip or plain file (sqlitetutorial.net)
  CHINOOK_SHA256               the expected sha256 of the Chinook database

Serving
  GRPC_ADDR                    host:port to serve gRPC on; 127.0.0.1:0 picks a free port (0.0.0.0:50051)
  TLS_CERT, TLS_KEY            PEM certificate chain and private key: serve TLS (unset: plaintext)
  TLS_CLIENT_CA                PEM CA bundle: also require client certificates it issued (mTLS)
  SHUTDOWN_GRACE_MS            how long calls may finish after SIGTERM before they end UNAVAILABLE (10000)
  HEALTH_PROBE_INTERVAL_MS     how often the database health probe runs (5000)
  METRICS_ADDR                 host:port to serve Prometheus /metrics on (unset: off)
  HTTP_ADDR                    host:port to serve Connect (HTTP/JSON), gRPC-Web and the browser page on (unset: off)
  HTTP_CORS_ORIGINS            browser origins allowed to call HTTP_ADDR cross-origin, comma-separated (unset: none)

Connections
  GRPC_HANDSHAKE_TIMEOUT_MS    close a connection that has not sent the HTTP/2 preface (after TLS) this soon (10000)
  GRPC_IDLE_TIMEOUT_MS         close a connection with no call open this long, with a GOAWAY (300000)
  GRPC_MAX_CONCURRENT_STREAMS  most calls open at once on one connection; clients queue the others (100)
  GRPC_KEEPALIVE_TIME_MS       how often the server pings each connection (60000)
  GRPC_KEEPALIVE_TIMEOUT_MS    drop a connection whose client leaves a ping unanswered this long (20000)
  GRPC_KEEPALIVE_MIN_TIME_MS   pings closer together with no call open are strikes; the third closes the
                               connection (GOAWAY ENHANCE_YOUR_CALM); 0 allows any rate (300000)
  GRPC_STREAM_STALL_TIMEOUT_MS end a server stream RESOURCE_EXHAUSTED when its client takes nothing this long (60000)
  LOG_LEVEL                    fatal, error, warn, info, debug (adds every query) or trace (info)

Tracing (OpenTelemetry; off unless an exporter or an OTLP endpoint is set; README.md, "Tracing")
  OTEL_EXPORTER_OTLP_ENDPOINT  send traces over OTLP to this collector, e.g. http://localhost:4318: turns tracing on
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  the same for traces alone, the full URL (…/v1/traces)
  OTEL_EXPORTER_OTLP_PROTOCOL  http/protobuf, http/json or grpc (http/protobuf); _TRACES_PROTOCOL for traces alone
  OTEL_EXPORTER_OTLP_TIMEOUT   how long one export may take, and the stop waits for the last spans (10000);
                               OTEL_EXPORTER_OTLP_TRACES_TIMEOUT for traces alone
  OTEL_EXPORTER_OTLP_HEADERS   headers sent with each export, e.g. an API key: key1=value1,key2=value2
  OTEL_TRACES_EXPORTER         otlp, console, zipkin or none: otlp (or console) turns tracing on by itself
  OTEL_TRACES_SAMPLER          always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off
                               or parentbased_traceidratio (parentbased_always_on)
  OTEL_TRACES_SAMPLER_ARG      the ratio, 0 to 1, of the traceidratio samplers (1)
  OTEL_SERVICE_NAME            the service.name spans are reported under (chinook-grpc)
  OTEL_RESOURCE_ATTRIBUTES     more resource attributes, e.g. deployment.environment.name=prod
  OTEL_PROPAGATORS             how callers' trace context is read (tracecontext,baggage: W3C traceparent)
  OTEL_SDK_DISABLED            true turns tracing off whatever else is set (false)
  OTEL_LOG_LEVEL               the SDK's own diagnostics on stderr (unset: its warnings go to the log)

Read cache
  CACHE_SIZE                   customers cached (and, on PostgreSQL, in the row memo), at most 1,000,000; 0 disables it (10000)
  CACHE_MAX_BYTES              roughly the most memory the cached customers may take (67108864)
  CACHE_TTL_MS                 how long a cached customer may be served; 0 = until evicted (30000)

Upkeep
  WAL_CHECKPOINT_BYTES         checkpoint the SQLite WAL once it is larger (67108864)
  WAL_CHECK_INTERVAL_MS        how often the WAL size and a due optimize are checked (10000)
  OPTIMIZE_INTERVAL_MS         how often PRAGMA optimize runs, and at shutdown (3600000)
  REQUEST_ID_RETENTION_MS      how long a request_id is remembered, at least a minute (86400000)
  PAGE_TOKEN_KEY_ROTATION_MS   a page-token signing key signs new tokens until it is this old (604800000)
  PAGE_TOKEN_KEY_RETENTION_MS  tokens of a replaced key stay valid this long (86400000)
`;
