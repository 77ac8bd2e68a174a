import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { median, type SizeReport } from "./report";

/** `--tracing`: the service as shipped (off), traced (on), or both, one after the other after the same ceiling. */
export type TracingMode = "off" | "on" | "both";
export const TRACING_MODES: readonly TracingMode[] = ["off", "on", "both"];

/** The traced service's settings: every call sampled, exported over OTLP/HTTP (protobuf) to the sink. */
export function tracingEnv(sinkUrl: string): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf", OTEL_TRACES_SAMPLER: "always_on" };
}

export function tracingVariants(mode: TracingMode): boolean[] {
  return mode === "both" ? [false, true] : [mode === "on"];
}

export interface TraceSink {
  readonly url: string;
  /** Bytes of spans received: a traced run that exported nothing measured nothing. */
  readonly receivedBytes: () => number;
  close(): Promise<void>;
}

/**
 * A collector that takes every export and keeps nothing, in the bench's own
 * process: what the service spends to build, batch and send its spans is
 * measured, not what a collector spends to store them.
 */
export async function startTraceSink(): Promise<TraceSink> {
  let received = 0;
  const server: Server = createServer((request, response) => {
    request.on("data", (chunk: Buffer) => (received += chunk.length));
    request.on("end", () => response.writeHead(200, { "content-type": "application/x-protobuf" }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    receivedBytes: () => received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * What tracing cost, per workload: the traced service's CPU per call over the
 * untraced one's, per run (both measured after the same ceiling, one after
 * the other), as the median and the spread of those run-by-run ratios.
 */
export function formatTracingCost(off: SizeReport, on: SizeReport): string {
  const lines = off.workloads.flatMap((offReport) => {
    const onReport = on.workloads.find((report) => report.workload === offReport.workload);
    if (onReport === undefined) return [];
    const ratios = offReport.runs.flatMap((offRun, index) => {
      const offCpu = offRun.server?.cpuMicrosPerOp;
      const onCpu = onReport.runs[index]?.server?.cpuMicrosPerOp;
      return offCpu === undefined || offCpu === null || onCpu === undefined || onCpu === null ? [] : [onCpu / offCpu];
    });
    const middle = median(ratios);
    if (middle === null) return [];
    const percent = (ratio: number) => `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(1)} %`;
    const spread = ratios.length > 1 ? ` (runs: ${ratios.map(percent).join(", ")})` : "";
    return [`  ${offReport.workload}: srv µs/op ${percent(middle)} traced${spread}`];
  });
  return ["tracing cost (always_on, OTLP/HTTP to a no-op sink), server CPU per call, traced vs not:", ...lines].join("\n");
}
