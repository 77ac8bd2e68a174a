import { ConfigError, loadConfig } from "../src/config";

describe("operations configuration", () => {
  it("has defaults: metrics off, a 10k-entry 64 MiB 30 s cache, 64 MiB WAL threshold, hourly optimize, keys kept a day, plaintext", () => {
    const config = loadConfig({});

    expect(config.metricsAddress).toBeUndefined();
    expect(config.cache).toEqual({ maxEntries: 10_000, maxBytes: 64 * 2 ** 20, ttlMs: 30_000 });
    expect(config.maintenance).toEqual({
      walCheckpointBytes: 64 * 1024 * 1024,
      checkIntervalMs: 10_000,
      optimizeIntervalMs: 3_600_000,
      requestIdRetentionMs: 86_400_000,
    });
    expect(config.tls).toBeUndefined();
  });

  it("reads every variable", () => {
    const config = loadConfig({
      METRICS_ADDR: "127.0.0.1:9464",
      CACHE_SIZE: "0",
      CACHE_TTL_MS: "0",
      CACHE_MAX_BYTES: "1048576",
      WAL_CHECKPOINT_BYTES: "1048576",
      WAL_CHECK_INTERVAL_MS: "500",
      OPTIMIZE_INTERVAL_MS: "60000",
      REQUEST_ID_RETENTION_MS: "600000",
      TLS_CERT: "/etc/chinook/server.crt",
      TLS_KEY: "/etc/chinook/server.key",
      TLS_CLIENT_CA: "/etc/chinook/clients.crt",
    });

    expect(config.metricsAddress).toBe("127.0.0.1:9464");
    expect(config.cache).toEqual({ maxEntries: 0, maxBytes: 1_048_576, ttlMs: 0 });
    expect(config.maintenance).toEqual({
      walCheckpointBytes: 1_048_576,
      checkIntervalMs: 500,
      optimizeIntervalMs: 60_000,
      requestIdRetentionMs: 600_000,
    });
    expect(config.tls).toEqual({
      certPath: "/etc/chinook/server.crt",
      keyPath: "/etc/chinook/server.key",
      clientCaPath: "/etc/chinook/clients.crt",
    });
  });

  it("rotates page token keys weekly and keeps a replaced one a day by default; reads both, each at least a minute", () => {
    expect(loadConfig({}).pageTokenKeys).toEqual({ rotationMs: 7 * 86_400_000, retentionMs: 86_400_000 });
    expect(loadConfig({ PAGE_TOKEN_KEY_ROTATION_MS: "3600000", PAGE_TOKEN_KEY_RETENTION_MS: "60000" }).pageTokenKeys).toEqual({
      rotationMs: 3_600_000,
      retentionMs: 60_000,
    });
    expect(() => loadConfig({ PAGE_TOKEN_KEY_ROTATION_MS: "59999" })).toThrow(/PAGE_TOKEN_KEY_ROTATION_MS must be a whole number ≥ 60000/);
    expect(() => loadConfig({ PAGE_TOKEN_KEY_RETENTION_MS: "a day" })).toThrow(/PAGE_TOKEN_KEY_RETENTION_MS must be a whole number/);
  });

  it("syncs SQLite's WAL on every commit by default (SQLITE_SYNCHRONOUS=FULL), and takes NORMAL or EXTRA, in any case", () => {
    const synchronous = (env: Record<string, string>) => {
      const { database } = loadConfig(env);
      return database.engine === "sqlite" ? database.synchronous : database.engine;
    };

    expect(synchronous({})).toBe("FULL");
    expect(synchronous({ SQLITE_SYNCHRONOUS: "NORMAL" })).toBe("NORMAL");
    expect(synchronous({ SQLITE_SYNCHRONOUS: "normal" })).toBe("NORMAL");
    expect(synchronous({ SQLITE_SYNCHRONOUS: " extra " })).toBe("EXTRA");
    expect(synchronous({ SQLITE_SYNCHRONOUS: "Full" })).toBe("FULL");
  });

  it.each([
    ["OFF", /SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA, got "OFF": OFF .*power loss/],
    ["0", /SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA, got "0"$/],
    ["2", /SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA, got "2"$/],
    ["fast", /SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA, got "fast"$/],
  ])("refuses SQLITE_SYNCHRONOUS=%s", (value, message) => {
    expect(() => loadConfig({ SQLITE_SYNCHRONOUS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ SQLITE_SYNCHRONOUS: value })).toThrow(message);
  });

  it("limits each connection by default: a 10 s handshake, 5 min idle, 100 streams, gRPC's keepalive rules, a 1 min stall", () => {
    expect(loadConfig({}).connectionLimits).toEqual({
      handshakeTimeoutMs: 10_000,
      idleTimeoutMs: 300_000,
      maxConcurrentStreams: 100,
      keepaliveTimeMs: 60_000,
      keepaliveTimeoutMs: 20_000,
      keepaliveMinTimeMs: 300_000,
      streamStallTimeoutMs: 60_000,
    });
  });

  it("reads every connection limit", () => {
    const config = loadConfig({
      GRPC_HANDSHAKE_TIMEOUT_MS: "5000",
      GRPC_IDLE_TIMEOUT_MS: "60000",
      GRPC_MAX_CONCURRENT_STREAMS: "250",
      GRPC_KEEPALIVE_TIME_MS: "30000",
      GRPC_KEEPALIVE_TIMEOUT_MS: "5000",
      GRPC_KEEPALIVE_MIN_TIME_MS: "0",
      GRPC_STREAM_STALL_TIMEOUT_MS: "15000",
    });

    expect(config.connectionLimits).toEqual({
      handshakeTimeoutMs: 5_000,
      idleTimeoutMs: 60_000,
      maxConcurrentStreams: 250,
      keepaliveTimeMs: 30_000,
      keepaliveTimeoutMs: 5_000,
      keepaliveMinTimeMs: 0,
      streamStallTimeoutMs: 15_000,
    });
  });

  it.each(["0.0.0.0:50051", "localhost:0", "[::]:50051", "[::1]:65535", "chinook.internal:50051"])(
    "takes GRPC_ADDR=%s as written",
    (address) => {
      expect(loadConfig({ GRPC_ADDR: address }).grpcAddress).toBe(address);
    },
  );

  it.each([
    ["METRICS_ADDR", "9464", /METRICS_ADDR must be host:port/],
    ["CACHE_SIZE", "-1", /CACHE_SIZE must be a whole number from 0 to 1000000/],
    ["CACHE_TTL_MS", "soon", /CACHE_TTL_MS must be a whole number/],
    ["CACHE_MAX_BYTES", "0", /CACHE_MAX_BYTES must be a whole number ≥ 1/],
    ["REQUEST_ID_RETENTION_MS", "1000", /REQUEST_ID_RETENTION_MS must be a whole number ≥ 60000/],
    ["WAL_CHECKPOINT_BYTES", "1.5", /WAL_CHECKPOINT_BYTES must be a whole number/],
    ["WAL_CHECK_INTERVAL_MS", "10", /WAL_CHECK_INTERVAL_MS must be a whole number from 100 to 2147483647/],
    ["OPTIMIZE_INTERVAL_MS", "0", /OPTIMIZE_INTERVAL_MS must be a whole number ≥ 100/],
    // Node runs a timer longer than 2^31 - 1 ms after 1 ms.
    ["SHUTDOWN_GRACE_MS", "3000000000", /SHUTDOWN_GRACE_MS must be a whole number from 0 to 2147483647/],
    ["HEALTH_PROBE_INTERVAL_MS", "2147483648", /HEALTH_PROBE_INTERVAL_MS must be a whole number from 100 to 2147483647/],
    ["WAL_CHECK_INTERVAL_MS", "9999999999", /WAL_CHECK_INTERVAL_MS must be a whole number from 100 to 2147483647/],
    ["CACHE_SIZE", "1000000001", /CACHE_SIZE must be a whole number from 0 to 1000000/],
    ["GRPC_ADDR", "127.0.0.1:", /GRPC_ADDR must be host:port/],
    ["METRICS_ADDR", "localhost:http", /METRICS_ADDR must be host:port/],
    // grpc-js would bind [::1]:443, and fail on an empty host.
    ["GRPC_ADDR", "::1", /GRPC_ADDR must be host:port/],
    ["GRPC_ADDR", ":50051", /GRPC_ADDR must be host:port/],
    ["GRPC_ADDR", "localhost:65536", /GRPC_ADDR must be host:port/],
    ["CACHE_TTL_MS", "0x10", /CACHE_TTL_MS must be a whole number/],
    ["CACHE_TTL_MS", "1e3", /CACHE_TTL_MS must be a whole number/],
    ["GRPC_HANDSHAKE_TIMEOUT_MS", "0", /GRPC_HANDSHAKE_TIMEOUT_MS must be a whole number from 1 to 2147483647/],
    ["GRPC_IDLE_TIMEOUT_MS", "2147483648", /GRPC_IDLE_TIMEOUT_MS must be a whole number from 1 to 2147483647/],
    ["GRPC_MAX_CONCURRENT_STREAMS", "0", /GRPC_MAX_CONCURRENT_STREAMS must be a whole number from 1 to 2147483647/],
    ["GRPC_KEEPALIVE_TIME_MS", "10", /GRPC_KEEPALIVE_TIME_MS must be a whole number from 1000 to 2147483647/],
    ["GRPC_KEEPALIVE_TIMEOUT_MS", "-1", /GRPC_KEEPALIVE_TIMEOUT_MS must be a whole number/],
    ["GRPC_KEEPALIVE_MIN_TIME_MS", "5 min", /GRPC_KEEPALIVE_MIN_TIME_MS must be a whole number/],
    ["GRPC_STREAM_STALL_TIMEOUT_MS", "0", /GRPC_STREAM_STALL_TIMEOUT_MS must be a whole number from 1 to 2147483647/],
  ])("refuses %s=%s", (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
