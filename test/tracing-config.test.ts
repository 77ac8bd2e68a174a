/** When the OTEL_* variables turn tracing on, and which of their values fail the start. */
import { ConfigError, loadConfig } from "../src/config";

function tracingWith(env: Record<string, string>) {
  return loadConfig(env).tracing;
}

describe("tracing", () => {
  it("is off by default", () => {
    expect(tracingWith({})).toEqual({ enabled: false, exportTimeoutMs: 10_000 });
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://localhost:4318/v1/traces" }, true],
    [{ OTEL_TRACES_EXPORTER: "otlp" }, true],
    [{ OTEL_TRACES_EXPORTER: "console" }, true],
    [{ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" }, false],
    [{ OTEL_SDK_DISABLED: "TRUE", OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" }, false],
    [{ OTEL_SDK_DISABLED: "false", OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" }, true],
    [{ OTEL_SERVICE_NAME: "chinook", OTEL_TRACES_SAMPLER: "always_on" }, false],
  ])("with %j is on: %s", (env, enabled) => {
    expect(tracingWith(env).enabled).toBe(enabled);
  });

  it("waits for the last spans as long as the exporter's own timeout", () => {
    expect(tracingWith({ OTEL_EXPORTER_OTLP_TIMEOUT: "2500" }).exportTimeoutMs).toBe(2500);
    expect(tracingWith({ OTEL_EXPORTER_OTLP_TIMEOUT: "2500", OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "700" }).exportTimeoutMs).toBe(700);
  });

  it.each([
    ["OTEL_EXPORTER_OTLP_PROTOCOL", "http"],
    ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc-web"],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "localhost 4318"],
    ["OTEL_TRACES_EXPORTER", "otlp,jaeger"],
    ["OTEL_TRACES_SAMPLER", "ratio"],
    ["OTEL_SDK_DISABLED", "yes"],
    ["OTEL_EXPORTER_OTLP_TIMEOUT", "10s"],
  ])("refuses %s=%s, naming it", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it("refuses a sampling ratio outside 0 to 1 for the ratio samplers only", () => {
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" })).toThrow("OTEL_TRACES_SAMPLER_ARG");
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" })).not.toThrow();
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER: "always_on", OTEL_TRACES_SAMPLER_ARG: "1.5" })).not.toThrow();
  });
});
