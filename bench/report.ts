import type { LoadResult } from "./load-result";
import type { Engine } from "./datasets";
import type { Workload } from "./workloads";

/** Everything measured at one dataset size, every run kept. */
export interface SizeReport {
  engine: Engine;
  rows: number;
  /** The service traced every call (bench --tracing). */
  tracing: boolean;
  /** Spawn to first SERVING, per start (one per workload and run). */
  startupMs: number[];
  /** The service's RSS right after start-up, per start (one per workload and run). */
  serviceIdleRssBytes: number[];
  workloads: WorkloadReport[];
}

export interface WorkloadReport {
  workload: Workload;
  streaming: boolean;
  runs: LoadResult[];
  /** The no-op server measured right before each run: GetCustomer, or ExportCustomers for streams. */
  ceilingRuns: LoadResult[];
  /** Per run: ops/s over the ceiling's ops/s measured just before. */
  ratios: number[];
  /**
   * Workloads whose answer is no single customer (ListCustomers' page of 50)
   * also measure the no-op server giving an answer of their own size: how
   * much of the gap to the ceiling is the transport carrying more bytes.
   */
  sameSize?: SameSizeCeiling;
}

export interface SameSizeCeiling {
  runs: LoadResult[];
  /** Per run: the no-op's ops/s over the ceiling's, both measured just before the service. */
  ceilingRatios: number[];
  /** Per run: the service's ops/s over the no-op's. */
  serviceRatios: number[];
}

const MB = 1024 * 1024;

export function median(values: readonly number[]): number | null {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? upper) + upper) / 2;
}

function medianOf(
  results: readonly LoadResult[],
  pick: (result: LoadResult) => number | null | undefined,
): number | null {
  return median(results.flatMap((result) => pick(result) ?? []));
}

/** Requests/s, or messages/s for a stream. */
export function opsPerSecond(result: LoadResult): number {
  return result.messagesPerSecond ?? result.rps;
}

function clientMicrosPerOp(result: LoadResult): number | null {
  const ops = result.messages ?? result.requests;
  return ops === 0 ? null : result.clientCpuMicros / ops;
}

/** Failures by status, plus calls too slow to finish in time: a silent zero must never look like a result. */
function errorSummary(results: readonly LoadResult[]): string {
  const totals = new Map<string, number>();
  for (const result of results) {
    for (const [code, count] of Object.entries(result.errors)) totals.set(code, (totals.get(code) ?? 0) + count);
    if (result.unfinishedCalls > 0) totals.set("unfinished", (totals.get("unfinished") ?? 0) + result.unfinishedCalls);
  }
  const notes = [...totals].map(([code, count]) => `${code}×${count}`);
  const stalled = results.filter(madeNoProgress);
  if (stalled.length > 0) notes.push(stallNote(stalled));
  return notes.length === 0 ? "-" : notes.join(" ");
}

/** No call finished and, for a stream, not one message arrived inside the window. */
function madeNoProgress(result: LoadResult): boolean {
  return result.requests === 0 && (result.messages ?? 0) === 0;
}

function stallNote(stalled: readonly LoadResult[]): string {
  const slowest = Math.max(0, ...stalled.map((result) => result.slowestCallMs ?? 0));
  if (slowest === 0) return "no call ever finished";
  return `nothing finished in the window; slowest call ${Math.round(slowest)} ms`;
}

function formatted(value: number | null, digits: number): string {
  if (value === null) return "-";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const COLUMNS = [
  ["workload", 16],
  ["unit", 6],
  ["service/s", 10],
  ["ceiling/s", 10],
  ["ratio", 6],
  ["p50 ms", 8],
  ["p99 ms", 8],
  ["srv µs/op", 10],
  ["ceil µs/op", 10],
  ["load µs/op", 10],
  ["rss MB", 7],
  ["errors", 0],
] as const;

function tableLine(cells: readonly string[]): string {
  return cells
    .map((cell, index) => {
      const width = COLUMNS[index]?.[1] ?? 0;
      return index < 2 ? cell.padEnd(width) : cell.padStart(width);
    })
    .join("  ")
    .trimEnd();
}

function workloadRow(report: WorkloadReport): string[] {
  const ceiling = report.ceilingRuns;
  return [
    report.workload,
    report.streaming ? "msg" : "req",
    formatted(medianOf(report.runs, opsPerSecond), 0),
    formatted(medianOf(ceiling, opsPerSecond), 0),
    formatted(median(report.ratios), 2),
    formatted(medianOf(report.runs, (result) => result.p50Ms), 2),
    formatted(medianOf(report.runs, (result) => result.p99Ms), 2),
    formatted(medianOf(report.runs, (result) => result.server?.cpuMicrosPerOp), 0),
    formatted(medianOf(ceiling, (result) => result.server?.cpuMicrosPerOp), 0),
    formatted(medianOf(report.runs, clientMicrosPerOp), 0),
    formatted(medianOf(report.runs, (result) => (result.server === null ? null : result.server.rssPeakBytes / MB)), 0),
    errorSummary(report.runs),
  ];
}

const ENGINE_NAMES: Record<Engine, string> = { sqlite: "SQLite", postgres: "PostgreSQL" };

export function formatSize(size: SizeReport): string {
  const runs = Math.max(0, ...size.workloads.map((report) => report.runs.length));
  const traced = size.tracing ? ", tracing every call" : "";
  const header = `${ENGINE_NAMES[size.engine]}${traced}, ${size.rows.toLocaleString("en-US")} customers — medians of ${runs} run${runs === 1 ? "" : "s"}`;
  const startup = `start-up to SERVING: ${formatted(median(size.startupMs), 0)} ms; idle RSS after start: ${formatted(
    (median(size.serviceIdleRssBytes) ?? 0) / MB,
    0,
  )} MB`;
  const rows = size.workloads.map((report) => tableLine(workloadRow(report)));
  const sameSize = size.workloads.flatMap((report) => sameSizeLine(report) ?? []);
  return [header, startup, tableLine(COLUMNS.map(([title]) => title)), ...rows, ...sameSize].join("\n");
}

function sameSizeLine({ workload, sameSize }: WorkloadReport): string | undefined {
  if (sameSize === undefined) return undefined;
  const rate = formatted(medianOf(sameSize.runs, opsPerSecond), 0);
  const p99 = formatted(medianOf(sameSize.runs, (result) => result.p99Ms), 2);
  const cpu = formatted(medianOf(sameSize.runs, (result) => result.server?.cpuMicrosPerOp), 0);
  return (
    `${workload} answered by the no-op server (same size of answer): ${rate} req/s, p99 ${p99} ms, ${cpu} srv µs/op; ` +
    `${formatted(median(sameSize.ceilingRatios), 2)} of the ceiling; the service does ` +
    `${formatted(median(sameSize.serviceRatios), 2)} of it`
  );
}

interface TargetCheck {
  what: string;
  measured: number | null;
  limit: number;
  atMost: boolean;
  unit: string;
}

function workloadAt(size: SizeReport, workload: Workload): WorkloadReport | undefined {
  return size.workloads.find((report) => report.workload === workload);
}

function exportRssGrowthMb(report: WorkloadReport): number | null {
  return medianOf(report.runs, (result) =>
    result.server === null ? null : (result.server.rssPeakBytes - result.server.rssBeforeBytes) / MB,
  );
}

function peakRssMb(size: SizeReport): number | null {
  const peaks = size.workloads.flatMap((report) => report.runs.flatMap((result) => result.server?.rssPeakBytes ?? []));
  return peaks.length === 0 ? null : Math.max(...peaks) / MB;
}

/**
 * PostgreSQL's targets (issue 12): a network round trip per statement, on the
 * same two cores, sets them below SQLite's (issue 6), which follow.
 */
function postgresTargetChecks(size: SizeReport): TargetCheck[] {
  return [
    ...ratioCheck(size, "GetCustomer", 0.6),
    ...ratioCheck(size, "CreateCustomer", 0.2),
    ...(size.rows >= 1_000_000 ? ratioCheck(size, "ListCustomers", 0.25) : []),
  ];
}

/** The workload's ratio to the ceiling against `limit`, if the run measured the workload. */
function ratioCheck(size: SizeReport, workload: Workload, limit: number): TargetCheck[] {
  const report = workloadAt(size, workload);
  return report === undefined ? [] : [{ what: `${workload} ratio`, measured: median(report.ratios), limit, atMost: false, unit: "" }];
}

/** The targets for the engine, sizes and workloads this run measured. */
function targetChecks(size: SizeReport): TargetCheck[] {
  return size.engine === "postgres" ? postgresTargetChecks(size) : sqliteTargetChecks(size);
}

/** Issue 6's targets. */
function sqliteTargetChecks(size: SizeReport): TargetCheck[] {
  const atScale = size.rows >= 1_000_000;
  const checks: TargetCheck[] = [
    { what: "start-up to SERVING", measured: median(size.startupMs), limit: 1000, atMost: true, unit: "ms" },
  ];
  checks.push(...ratioCheck(size, "GetCustomer", 0.9), ...ratioCheck(size, "CreateCustomer", 0.6));
  if (!atScale) return checks;
  checks.push(...ratioCheck(size, "ListCustomers", 0.5), ...ratioCheck(size, "ExportCustomers", 0.8));
  const list = workloadAt(size, "ListCustomers");
  if (list !== undefined) {
    const p99 = medianOf(list.runs, (result) => result.p99Ms);
    checks.push({ what: "ListCustomers p99", measured: p99, limit: 5, atMost: true, unit: "ms" });
  }
  const exported = workloadAt(size, "ExportCustomers");
  if (exported !== undefined) {
    const growth = exportRssGrowthMb(exported);
    checks.push({ what: "ExportCustomers RSS growth", measured: growth, limit: 50, atMost: true, unit: "MB" });
  }
  checks.push({ what: "service RSS under load", measured: peakRssMb(size), limit: 200, atMost: true, unit: "MB" });
  return checks;
}

export function formatTargets(size: SizeReport): string {
  const checks = targetChecks(size).map(({ what, measured, limit, atMost, unit }) => {
    const met = measured !== null && (atMost ? measured <= limit : measured >= limit);
    const value = formatted(measured, unit === "" ? 2 : 0);
    const target = `${atMost ? "≤" : "≥"} ${limit}${unit}`;
    return `  ${met ? "met    " : "NOT met"}  ${what}: ${value}${unit} (target ${target})`;
  });
  return [...checks, ...noOpPageNote(size)].join("\n");
}

/** The ListCustomers targets held against the no-op server's own page: what the transport alone allows. */
function noOpPageNote(size: SizeReport): string[] {
  const sameSize = workloadAt(size, "ListCustomers")?.sameSize;
  if (size.rows < 1_000_000 || sameSize === undefined || sameSize.runs.length === 0) return [];
  const ratio = formatted(median(sameSize.ceilingRatios), 2);
  const p99 = formatted(medianOf(sameSize.runs, (result) => result.p99Ms), 2);
  return [`  (a no-op server answering the same page of 50: ratio ${ratio}, p99 ${p99} ms)`];
}
