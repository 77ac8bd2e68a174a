import { diag, DiagLogLevel, propagation, trace, type DiagLogger } from "@opentelemetry/api";
import type { TracingConfig } from "../config";
import type { Logger } from "../logger";
import { TRACER_NAME, type Tracing } from "./tracing";

/** The process's OpenTelemetry SDK, when tracing is on, and how to stop it. */
export interface Telemetry {
  /** What startApp traces with; undefined when tracing is off. */
  readonly tracing: Tracing | undefined;
  /**
   * Exports the spans still buffered, then stops the SDK. A collector that
   * never answers holds it (and the process's exit) no longer than the
   * exporter's timeout, OTEL_EXPORTER_OTLP_TIMEOUT.
   */
  shutdown(): Promise<void>;
}

const OFF: Telemetry = { tracing: undefined, shutdown: () => Promise.resolve() };

/**
 * Starts OpenTelemetry's NodeSDK, once per process (main), when the OTEL_*
 * variables turn tracing on. NodeSDK reads them itself: the exporter and its
 * endpoint, protocol, headers and timeout, the sampler, the propagators,
 * the batch processor's limits, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
 * (over our default service.name, chinook-grpc). It registers the tracer
 * provider and propagator as OpenTelemetry's globals, which the Tracing
 * handed to the app is taken from. Traces only: no metrics (Prometheus has
 * them), no logs, no auto-instrumentation; the spans are our own. Loaded only
 * when tracing is on: the SDK and its exporters take ~150 ms and ~25 MB to load.
 */
export async function startTelemetry(config: TracingConfig, logger: Logger): Promise<Telemetry> {
  if (!config.enabled) return OFF;
  const { NodeSDK, resources } = await import("@opentelemetry/sdk-node");
  // An unreachable collector is worth a warning; NodeSDK replaces this with the console when OTEL_LOG_LEVEL is set.
  diag.setLogger(diagToLogger(logger), DiagLogLevel.WARN);
  const sdk = new NodeSDK({
    resource: resources.defaultResource().merge(resources.resourceFromAttributes({ "service.name": TRACER_NAME })),
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  logger.info({ export_timeout_ms: config.exportTimeoutMs }, "tracing with OpenTelemetry, exporting as the OTEL_* variables say");
  return {
    tracing: { tracer: trace.getTracer(TRACER_NAME), propagator: propagation },
    shutdown: () =>
      withinBound(sdk.shutdown(), config.exportTimeoutMs, () =>
        logger.warn({ timeout_ms: config.exportTimeoutMs }, "the last spans were not exported within OTEL_EXPORTER_OTLP_TIMEOUT; dropped"),
      ),
  };
}

/** `work`, or `onTimeout` once `boundMs` pass: the exporter's timeout bounds one export, and a flush may hold several. */
async function withinBound(work: Promise<void>, boundMs: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, boundMs);
  });
  try {
    await Promise.race([work.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function diagToLogger(logger: Logger): DiagLogger {
  const write = (level: "error" | "warn" | "info" | "debug" | "trace") => (message: string, ...details: unknown[]) =>
    logger[level]({ component: "opentelemetry", details: details.map(String) }, message);
  return { error: write("error"), warn: write("warn"), info: write("info"), debug: write("debug"), verbose: write("trace") };
}
