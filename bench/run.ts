/**
 * The benchmark: for each dataset size, per run, starts the no-op ceiling
 * server and the real service (on a fresh copy of the database), drives both
 * with the same load generator process, and prints medians and ratios.
 *
 *   npm run bench -- [--runs 3] [--seconds 5] [--warmup 2] [--sizes 59,1000000]
 *     [--workloads GetCustomer,ListCustomers,…] [--concurrency 16] [--export-streams 1]
 *     [--seed 1] [--profile] [--log-level info]
 */
import {
  copyFileSync,
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
import { installChildCleanup, killAllChildren, outputOf, spawnTracked, stderrTail } from "./children";
import { chinookDataset, syntheticDataset, type Dataset } from "./datasets";
import { Flags } from "./flags";
import { parseLoadResult, type LoadResult } from "./load-result";
import { CHINOOK_SOURCE, REPO_ROOT, RESULTS_DIR, benchScript } from "./paths";
import { rssBytes } from "./proc";
import { formatSize, formatTargets, opsPerSecond, type SizeReport, type WorkloadReport } from "./report";
import { startCeiling, startService, type RunningServer } from "./servers";
import { isStreaming, WORKLOADS, type StreamingWorkload, type UnaryWorkload, type Workload } from "./workloads";

interface RunOptions {
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
}

/** Where this invocation writes: results JSON, service logs, profiles. */
interface Output {
  resultsFile: string;
  logDir: string;
  profileDir: string | undefined;
  workDir: string;
}

const CEILING_UNARY: UnaryWorkload = "GetCustomer";
/** Workloads the ceiling also answers with a response of their own size. */
const SAME_SIZE_CEILINGS: ReadonlySet<Workload> = new Set<Workload>(["ListCustomers"]);
const CEILING_STREAM: StreamingWorkload = "ExportCustomers";
const LOAD_GRACE_MS = 60_000;

function optionsFrom(argv: readonly string[]): RunOptions {
  const flags = new Flags(argv, [
    "runs", "seconds", "warmup", "sizes", "workloads", "concurrency", "export-streams", "seed", "profile", "log-level",
  ]);
  return {
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
  };
}

function logLevelFrom(text: string): string {
  const levels = ["fatal", "error", "warn", "info", "debug", "trace"];
  if (!levels.includes(text)) throw new Error(`--log-level: "${text}" is not one of ${levels.join(", ")}`);
  return text;
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

function emptySizeReport(rows: number, workloads: readonly Workload[]): SizeReport {
  return {
    rows,
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

/**
 * The ceiling is measured right before the service, so that whatever else
 * the machine is doing weighs on both sides of the ratio alike. Each workload
 * gets its own service on its own fresh copy of the database, so one
 * workload's writes never shape the next (an export after a minute of
 * CreateCustomer would stream far more than the dataset), and its RSS starts
 * from the same baseline. Every start is also a start-up sample.
 */
async function measureWorkload(
  workloadReport: WorkloadReport,
  ceilingServer: RunningServer,
  context: { dataset: Dataset; run: number; report: SizeReport; options: RunOptions; output: Output },
): Promise<void> {
  const { dataset, run, report, options, output } = context;
  const ceiling = await measureCeiling(ceilingServer, workloadReport, dataset, options);
  await measureSameSizeCeiling(ceilingServer, workloadReport, ceiling, { dataset, options });
  const runDir = mkdtempSync(path.join(output.workDir, `${dataset.rows}-${workloadReport.workload}-${run}-`));
  const databasePath = path.join(runDir, "chinook.db");
  copyFileSync(dataset.basePath, databasePath);
  const name = `service-${dataset.rows}-${workloadReport.workload}-run${run}`;
  const service = await startService({
    databasePath,
    chinookSource: CHINOOK_SOURCE,
    logLevel: options.logLevel,
    runLogFile: path.join(runDir, "service.log"),
    logFile: path.join(output.logDir, `${name}.log`),
    profile: output.profileDir === undefined ? undefined : { dir: output.profileDir, name: `${name}.cpuprofile` },
  });
  try {
    report.startupMs.push(service.startupMs);
    report.serviceIdleRssBytes.push(rssBytes(service.pid));
    const result = await measure(service, workloadReport.workload, dataset, options);
    const startup = `SERVING after ${service.startupMs.toFixed(0)} ms`;
    progress(`  service ${workloadReport.workload}: ${describe(result)} (${startup})`);
    workloadReport.runs.push(result);
    workloadReport.ratios.push(opsPerSecond(result) / opsPerSecond(ceiling));
    recordSameSizeRatio(workloadReport, result);
  } finally {
    await service.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
}

async function measureRun(
  dataset: Dataset,
  run: number,
  report: SizeReport,
  options: RunOptions,
  output: Output,
): Promise<void> {
  progress(`${dataset.rows.toLocaleString("en-US")} customers, run ${run}/${options.runs}`);
  const ceilingServer = await startCeiling(dataset.facts.exportCount);
  try {
    for (const workloadReport of report.workloads) {
      await measureWorkload(workloadReport, ceilingServer, { dataset, run, report, options, output });
    }
  } finally {
    await ceilingServer.stop();
  }
}

async function datasetsFor(options: RunOptions, workDir: string): Promise<Dataset[]> {
  const chinook = await chinookDataset(workDir);
  const datasets: Dataset[] = [];
  for (const rows of options.sizes) {
    if (rows < chinook.rows) throw new Error(`--sizes: the smallest dataset is Chinook's ${chinook.rows} customers`);
    datasets.push(rows === chinook.rows ? chinook : await syntheticDataset(chinook, rows, options.seed, workDir));
  }
  return datasets;
}

function prepareOutput(startedAt: Date, options: RunOptions): Output {
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const logDir = path.join(RESULTS_DIR, `${stamp}-logs`);
  mkdirSync(logDir, { recursive: true });
  const profileDir = options.profile ? path.join(RESULTS_DIR, `${stamp}-profiles`) : undefined;
  return {
    resultsFile: path.join(RESULTS_DIR, `${stamp}.json`),
    logDir,
    profileDir,
    workDir: mkdtempSync(path.join(os.tmpdir(), "chinook-bench-")),
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
  const options = optionsFrom(process.argv.slice(2));
  installChildCleanup();
  const startedAt = new Date();
  const output = prepareOutput(startedAt, options);
  // Also on Ctrl-C, when the finally below never runs.
  process.once("exit", () => cleanUp(output));
  progress(`service LOG_LEVEL=${options.logLevel}`);
  if (options.profile) progress(`profiling the service (numbers are slower than usual): ${output.profileDir}`);
  try {
    const sizes: SizeReport[] = [];
    for (const dataset of await datasetsFor(options, output.workDir)) {
      const report = emptySizeReport(dataset.rows, options.workloads);
      for (let run = 1; run <= options.runs; run++) await measureRun(dataset, run, report, options, output);
      sizes.push(report);
      process.stdout.write(`\n${formatSize(report)}\nissue 6 targets:\n${formatTargets(report)}\n`);
    }
    const results = { startedAt, finishedAt: new Date(), machine: machine(), options, sizes };
    writeFileSync(output.resultsFile, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`\nresults: ${path.relative(process.cwd(), output.resultsFile)}\n`);
    if (output.profileDir !== undefined) {
      process.stdout.write(`profiles: ${output.profileDir}\n`);
      process.stdout.write("  summarise one with: node dist/bench/profile-summary.js FILE\n");
    }
  } finally {
    cleanUp(output);
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
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
