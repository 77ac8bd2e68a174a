/**
 * The benchmark: for each dataset size, per run, starts the no-op ceiling
 * server and the real service (on a fresh copy of the database), drives both
 * with the same load generator process, and prints medians and ratios.
 *
 *   npm run bench -- [--engines sqlite,postgres] [--database-url URL] [--runs 3] [--seconds 5] [--warmup 2] [--sizes 59,1000000]
 *     [--workloads GetCustomer,ListCustomers,…] [--concurrency 16] [--export-streams 1]
 *     [--seed 1] [--profile] [--log-level info] [--tracing off|on|both]
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { asksForHelp } from "../src/usage";
import { installChildCleanup, killAllChildren, outputOf, spawnTracked, stderrTail } from "./children";
import { chinookDataset, syntheticDataset, type Dataset, type Engine } from "./datasets";
import { benchPostgres, postgresChinookDataset, postgresSyntheticDataset, type BenchPostgres } from "./postgres-datasets";
import { Flags, UsageError } from "./flags";
import { parseLoadResult, type LoadResult } from "./load-result";
import { CHINOOK_SOURCE, REPO_ROOT, RESULTS_DIR, benchScript } from "./paths";
import { rssBytes } from "./proc";
import { formatSize, formatTargets, opsPerSecond, type SizeReport, type WorkloadReport } from "./report";
import { startCeiling, startService, type RunningServer } from "./servers";
import { formatTracingCost, startTraceSink, tracingEnv, tracingVariants, TRACING_MODES, type TracingMode } from "./tracing";
import { isStreaming, WORKLOADS, type StreamingWorkload, type UnaryWorkload, type Workload } from "./workloads";

interface RunOptions {
  /** The engines measured, each against the same ceiling measurements. */
  engines: Engine[];
  /** A PostgreSQL superuser's URL to build datasets on; else a server kept under bench/.data/postgres. */
  databaseUrl: string | undefined;
  runs: number;
  seconds: number;
  warmupSeconds: number;
  sizes: number[];
  workloads: Workload[];
  concurrency: number;
  exportStreams: number;
  seed: number;
  profile: boolean;
  logLevel: string;
  tracing: TracingMode;
}

/** Where this invocation writes: results JSON, service logs, profiles. */
interface Output {
  resultsFile: string;
  logDir: string;
  profileDir: string | undefined;
  workDir: string;
  /** The OTLP endpoint traced services export to (a no-op sink); undefined with --tracing off. */
  traceSinkUrl: string | undefined;
}

const CEILING_UNARY: UnaryWorkload = "GetCustomer";
/** Workloads the ceiling also answers with a response of their own size. */
const SAME_SIZE_CEILINGS: ReadonlySet<Workload> = new Set<Workload>(["ListCustomers"]);
const CEILING_STREAM: StreamingWorkload = "ExportCustomers";
const LOAD_GRACE_MS = 60_000;

const USAGE = `usage: npm run bench -- [--engines sqlite,postgres] [--database-url URL] [--runs 3] [--seconds 5] [--warmup 2]
    [--sizes 59,1000000] [--workloads ${WORKLOADS.join(",")}]
    [--concurrency 16] [--export-streams 1] [--seed 1] [--profile] [--log-level info] [--tracing off|on|both]

Measures the service against a no-op grpc-js server (the ceiling) at each dataset size, on each engine,
and prints medians and ratios; the results JSON goes under bench/results/ (bench/README.md says more).
`;

function optionsFrom(argv: readonly string[]): RunOptions {
  const flags = new Flags(argv, [
    "engines", "database-url", "runs", "seconds", "warmup", "sizes", "workloads", "concurrency", "export-streams", "seed", "profile", "log-level", "tracing",
  ]);
  return {
    engines: flags.list("engines", ENGINES).map(engineFrom),
    databaseUrl: flags.optionalString("database-url") ?? process.env.BENCH_DATABASE_URL,
    runs: flags.integer("runs", 3, 1),
    seconds: flags.number("seconds", 5, 0.5),
    warmupSeconds: flags.number("warmup", 2),
    sizes: flags.list("sizes", ["59", "1000000"]).map(sizeFrom),
    workloads: flags.list("workloads", WORKLOADS).map(workloadFrom),
    concurrency: flags.integer("concurrency", 16, 1),
    exportStreams: flags.integer("export-streams", 1, 1),
    seed: flags.integer("seed", 1),
    profile: flags.boolean("profile"),
    logLevel: logLevelFrom(flags.string("log-level", "info")),
    tracing: tracingModeFrom(flags.string("tracing", "off")),
  };
}

function tracingModeFrom(text: string): TracingMode {
  const mode = TRACING_MODES.find((name) => name === text);
  if (mode === undefined) throw new UsageError(`--tracing must be one of ${TRACING_MODES.join(", ")}, got "${text}"`);
  return mode;
}

function logLevelFrom(text: string): string {
  const levels = ["fatal", "error", "warn", "info", "debug", "trace"];
  if (!levels.includes(text)) throw new Error(`--log-level: "${text}" is not one of ${levels.join(", ")}`);
  return text;
}

const ENGINES: readonly Engine[] = ["sqlite", "postgres"];

function engineFrom(text: string): Engine {
  const engine = ENGINES.find((name) => name === text.toLowerCase());
  if (engine === undefined) throw new Error(`--engines: "${text}" is not one of ${ENGINES.join(", ")}`);
  return engine;
}

function sizeFrom(text: string): number {
  const rows = Number(text.replace(/_/g, ""));
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error(`--sizes: "${text}" is not a row count`);
  return rows;
}

function workloadFrom(text: string): Workload {
  const workload = WORKLOADS.find((name) => name.toLowerCase() === text.toLowerCase());
  if (workload === undefined) throw new Error(`--workloads: "${text}" is not one of ${WORKLOADS.join(", ")}`);
  return workload;
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function measure(
  server: RunningServer,
  workload: Workload,
  dataset: Dataset,
  options: RunOptions,
): Promise<LoadResult> {
  const concurrency = isStreaming(workload) ? options.exportStreams : options.concurrency;
  const args = [
    benchScript("load"),
    ...["--workload", workload, "--target", server.address, "--concurrency", String(concurrency)],
    ...["--warmup", String(options.warmupSeconds), "--seconds", String(options.seconds)],
    ...["--facts", dataset.factsFile, "--server-pid", String(server.pid)],
  ];
  const child = spawnTracked(process.execPath, args, { cwd: REPO_ROOT });
  const tail = stderrTail(child);
  const timeoutMs = (options.warmupSeconds + options.seconds) * 1000 + LOAD_GRACE_MS;
  const output = await outputOf(child, timeoutMs, () => `${tail()}\n--- server:\n${server.diagnostics()}`);
  return parseLoadResult(output.trim().split("\n").at(-1) ?? "");
}

function describe(result: LoadResult): string {
  const unit = result.messagesPerSecond === null ? "req/s" : "msg/s";
  const errors = Object.entries(result.errors).map(([code, count]) => `${code}×${count}`);
  const p99 = result.p99Ms === null ? "-" : result.p99Ms.toFixed(2);
  const rate = Math.round(opsPerSecond(result)).toLocaleString("en-US");
  return `${rate} ${unit}, p99 ${p99} ms${errors.length > 0 ? `, errors ${errors.join(" ")}` : ""}`;
}

function emptySizeReport({ engine, rows }: Dataset, workloads: readonly Workload[], tracing: boolean): SizeReport {
  return {
    engine,
    rows,
    tracing,
    startupMs: [],
    serviceIdleRssBytes: [],
    workloads: workloads.map((workload) => ({
      workload,
      streaming: isStreaming(workload),
      runs: [],
      ceilingRuns: [],
      ratios: [],
      sameSize: SAME_SIZE_CEILINGS.has(workload) ? { runs: [], ceilingRatios: [], serviceRatios: [] } : undefined,
    })),
  };
}

/** The ceiling's answer to the same kind of call: GetCustomer for unary workloads, its stream for ExportCustomers. */
async function measureCeiling(
  server: RunningServer,
  report: WorkloadReport,
  dataset: Dataset,
  options: RunOptions,
): Promise<LoadResult> {
  const workload = report.streaming ? CEILING_STREAM : CEILING_UNARY;
  const result = await measure(server, workload, dataset, options);
  progress(`  ceiling ${workload}: ${describe(result)}`);
  report.ceilingRuns.push(result);
  return result;
}

/** For workloads with a same-size ceiling: the no-op server answering the workload itself. */
async function measureSameSizeCeiling(
  server: RunningServer,
  report: WorkloadReport,
  ceiling: LoadResult,
  context: { dataset: Dataset; options: RunOptions },
): Promise<void> {
  if (report.sameSize === undefined) return;
  const result = await measure(server, report.workload, context.dataset, context.options);
  progress(`  ceiling ${report.workload} (no-op, same size of answer): ${describe(result)}`);
  report.sameSize.runs.push(result);
  report.sameSize.ceilingRatios.push(opsPerSecond(result) / opsPerSecond(ceiling));
}

function recordSameSizeRatio(report: WorkloadReport, service: LoadResult): void {
  const noOp = report.sameSize?.runs.at(-1);
  if (noOp !== undefined) report.sameSize?.serviceRatios.push(opsPerSecond(service) / opsPerSecond(noOp));
}

/** One dataset size on each engine measured, with its report. */
interface SizeUnderTest {
  dataset: Dataset;
  report: SizeReport;
}

/**
 * The ceiling is measured right before the services, so that whatever else
 * the machine is doing weighs on both sides of the ratio alike; every engine
 * is held against the same ceiling measurement. Each workload gets its own
 * service on its own fresh copy of the database, so one workload's writes
 * never shape the next (an export after a minute of CreateCustomer would
 * stream far more than the dataset), and its RSS starts from the same
 * baseline. Every start is also a start-up sample.
 */
async function measureWorkload(
  workloadIndex: number,
  ceilingServer: RunningServer,
  context: { engines: readonly SizeUnderTest[]; run: number; options: RunOptions; output: Output },
): Promise<void> {
  const { engines, options } = context;
  const [first] = engines;
  const firstReport = first?.report.workloads[workloadIndex];
  if (first === undefined || firstReport === undefined) return;
  const ceiling = await measureCeiling(ceilingServer, firstReport, first.dataset, options);
  await measureSameSizeCeiling(ceilingServer, firstReport, ceiling, { dataset: first.dataset, options });
  for (const { dataset, report } of engines) {
    const workloadReport = report.workloads[workloadIndex];
    if (workloadReport === undefined) continue;
    if (workloadReport !== firstReport) shareCeiling(firstReport, workloadReport);
    await measureService(workloadReport, ceiling, { ...context, dataset, report });
  }
}

/** The ceiling runs measured for one engine's report, copied to another's: they are its ceiling too. */
function shareCeiling(from: WorkloadReport, to: WorkloadReport): void {
  const ceiling = from.ceilingRuns.at(-1);
  if (ceiling !== undefined) to.ceilingRuns.push(ceiling);
  const noOp = from.sameSize?.runs.at(-1);
  const noOpRatio = from.sameSize?.ceilingRatios.at(-1);
  if (to.sameSize !== undefined && noOp !== undefined && noOpRatio !== undefined) {
    to.sameSize.runs.push(noOp);
    to.sameSize.ceilingRatios.push(noOpRatio);
  }
}

async function measureService(
  workloadReport: WorkloadReport,
  ceiling: LoadResult,
  context: { dataset: Dataset; report: SizeReport; run: number; options: RunOptions; output: Output },
): Promise<void> {
  const { dataset, run, report, options, output } = context;
  const label = `${dataset.engine}${report.tracing ? "-traced" : ""}-${dataset.rows}-${workloadReport.workload}-run${run}`;
  const runDir = mkdtempSync(path.join(output.workDir, `${label}-`));
  const database = await dataset.copy(runDir);
  try {
    const service = await startService({
      databaseEnv: database.env,
      chinookSource: CHINOOK_SOURCE,
      logLevel: options.logLevel,
      runLogFile: path.join(runDir, "service.log"),
      logFile: path.join(output.logDir, `service-${label}.log`),
      profile: output.profileDir === undefined ? undefined : { dir: output.profileDir, name: `service-${label}.cpuprofile` },
      env: report.tracing && output.traceSinkUrl !== undefined ? tracingEnv(output.traceSinkUrl) : {},
    });
    try {
      report.startupMs.push(service.startupMs);
      report.serviceIdleRssBytes.push(rssBytes(service.pid));
      const result = await measure(service, workloadReport.workload, dataset, options);
      const startup = `SERVING after ${service.startupMs.toFixed(0)} ms`;
      const traced = report.tracing ? ", traced" : "";
      progress(`  service (${dataset.engine}${traced}) ${workloadReport.workload}: ${describe(result)} (${startup})`);
      workloadReport.runs.push(result);
      workloadReport.ratios.push(opsPerSecond(result) / opsPerSecond(ceiling));
      recordSameSizeRatio(workloadReport, result);
    } finally {
      await service.stop();
    }
  } finally {
    await database.drop();
    rmSync(runDir, { recursive: true, force: true });
  }
}

async function measureRun(engines: readonly SizeUnderTest[], run: number, options: RunOptions, output: Output): Promise<void> {
  const [first] = engines;
  if (first === undefined) return;
  progress(`${first.dataset.rows.toLocaleString("en-US")} customers, run ${run}/${options.runs}`);
  const ceilingServer = await startCeiling(first.dataset.facts.exportCount);
  try {
    for (let workloadIndex = 0; workloadIndex < options.workloads.length; workloadIndex++) {
      await measureWorkload(workloadIndex, ceilingServer, { engines, run, options, output });
    }
  } finally {
    await ceilingServer.stop();
  }
}

/** Per size asked, its dataset on each engine asked, in the same order. */
async function datasetsFor(options: RunOptions, workDir: string, postgres: BenchPostgres | undefined): Promise<Dataset[][]> {
  const chinook = await chinookDataset(workDir);
  const postgresChinook = postgres === undefined ? undefined : await postgresChinookDataset(postgres, workDir);
  const sizes: Dataset[][] = [];
  for (const rows of options.sizes) {
    if (rows < chinook.rows) throw new Error(`--sizes: the smallest dataset is Chinook's ${chinook.rows} customers`);
    const engines: Dataset[] = [];
    for (const engine of options.engines) {
      if (engine === "sqlite") {
        engines.push(rows === chinook.rows ? chinook : await syntheticDataset(chinook, rows, options.seed, workDir));
      } else if (postgres !== undefined && postgresChinook !== undefined) {
        const same = rows === postgresChinook.rows;
        engines.push(same ? postgresChinook : await postgresSyntheticDataset(postgres, postgresChinook, rows, options.seed, workDir));
      }
    }
    sizes.push(engines);
  }
  return sizes;
}

function prepareOutput(startedAt: Date, options: RunOptions, traceSinkUrl: string | undefined): Output {
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const logDir = path.join(RESULTS_DIR, `${stamp}-logs`);
  mkdirSync(logDir, { recursive: true });
  const profileDir = options.profile ? path.join(RESULTS_DIR, `${stamp}-profiles`) : undefined;
  return {
    resultsFile: path.join(RESULTS_DIR, `${stamp}.json`),
    logDir,
    profileDir,
    workDir: mkdtempSync(path.join(os.tmpdir(), "chinook-bench-")),
    traceSinkUrl,
  };
}

/** Service logs run at warn: an empty one says nothing went wrong and is not worth keeping. */
function removeEmptyLogs(logDir: string): void {
  if (!existsSync(logDir)) return;
  for (const file of readdirSync(logDir)) {
    const logFile = path.join(logDir, file);
    if (statSync(logFile).size === 0) rmSync(logFile);
  }
  if (readdirSync(logDir).length === 0) rmSync(logDir, { recursive: true });
  else progress(`service logs with content: ${logDir}`);
}

function machine(): Record<string, string | number> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (asksForHelp(argv)) {
    process.stdout.write(USAGE);
    return;
  }
  const options = optionsFrom(argv);
  installChildCleanup();
  const startedAt = new Date();
  const traceSink = options.tracing === "off" ? undefined : await startTraceSink();
  const output = prepareOutput(startedAt, options, traceSink?.url);
  // Also on Ctrl-C, when the finally below never runs.
  process.once("exit", () => cleanUp(output));
  progress(`service LOG_LEVEL=${options.logLevel}`);
  if (options.profile) progress(`profiling the service (numbers are slower than usual): ${output.profileDir}`);
  const postgres = options.engines.includes("postgres") ? await benchPostgres(options.databaseUrl) : undefined;
  try {
    const sizes: SizeReport[] = [];
    for (const datasets of await datasetsFor(options, output.workDir, postgres)) {
      // With --tracing both, each engine untraced then traced, after the same ceiling measurement.
      const engines = datasets.flatMap((dataset) =>
        tracingVariants(options.tracing).map((tracing) => ({ dataset, report: emptySizeReport(dataset, options.workloads, tracing) })),
      );
      for (let run = 1; run <= options.runs; run++) await measureRun(engines, run, options, output);
      for (const { report } of engines) {
        sizes.push(report);
        process.stdout.write(`\n${formatSize(report)}\ntargets:\n${formatTargets(report)}\n`);
      }
      printTracingCost(engines.map(({ report }) => report));
    }
    const results = { startedAt, finishedAt: new Date(), machine: machine(), options, sizes };
    writeFileSync(output.resultsFile, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), output.resultsFile)}\n`);
    if (traceSink !== undefined) progress(`trace sink: ${traceSink.receivedBytes().toLocaleString("en-US")} bytes of spans received`);
    if (output.profileDir !== undefined) {
      process.stdout.write(`profiles: ${output.profileDir}\n`);
      process.stdout.write("  summarise one with: node dist/bench/profile-summary.js FILE\n");
    }
  } finally {
    cleanUp(output);
    await postgres?.stop();
    await traceSink?.close();
  }
}

/** Each traced report next to the untraced one of its engine and size. */
function printTracingCost(reports: readonly SizeReport[]): void {
  for (const on of reports.filter((report) => report.tracing)) {
    const off = reports.find((report) => !report.tracing && report.engine === on.engine && report.rows === on.rows);
    if (off !== undefined) process.stdout.write(`\n${formatTracingCost(off, on)}\n`);
  }
}

/** Idempotent: runs at the end and again on exit. */
function cleanUp(output: Output): void {
  killAllChildren();
  removeEmptyLogs(output.logDir);
  rmSync(output.workDir, { recursive: true, force: true });
}

if (require.main === module) {
  main().catch((error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
