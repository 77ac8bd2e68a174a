import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { ChildProcess } from "node:child_process";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb";
import { typedClient, type TypedClient } from "../src/client/grpc-js";
import { freeLoopbackPort } from "../tools/ports";
import { firstJsonLine, spawnTracked, stderrTail, stopChild } from "./children";
import { numberAt, parseJsonRecord } from "./json";
import { benchScript, REPO_ROOT, SERVICE_ENTRY } from "./paths";

/** A server process the load generator can aim at. */
export interface RunningServer {
  readonly pid: number;
  readonly address: string;
  /** What it printed lately, to explain a failure. */
  diagnostics(): string;
  stop(): Promise<void>;
}

export interface ServiceProcess extends RunningServer {
  /** From spawn to the first SERVING answer of grpc.health.v1. */
  readonly startupMs: number;
}

export interface ServiceOptions {
  /** What points the service at its database: DATABASE_PATH or DATABASE_URL. */
  databaseEnv: Record<string, string>;
  chinookSource: string;
  /** The service's LOG_LEVEL; at info (its default) it writes one line per call, a cost it has in production. */
  logLevel: string;
  /** Where the service writes its log, straight from its stdout, for the run only. */
  runLogFile: string;
  /** Where its warnings and errors are kept after it stops; not created when it logged none. */
  logFile: string;
  /** Where `node --cpu-prof` writes the service's profile, if profiling. */
  profile?: { dir: string; name: string };
  /** More environment, e.g. the OTEL_* variables that turn tracing on. */
  env?: Record<string, string>;
}

const START_TIMEOUT_MS = 60_000;
const HEALTH_POLL_MS = 5;
const HEALTH_CALL_MS = 500;
// grpc-js backs off for a second after a refused connection by default: far longer than start-up itself.
const FAST_RECONNECT: grpc.ChannelOptions = {
  "grpc.initial_reconnect_backoff_ms": 10,
  "grpc.max_reconnect_backoff_ms": 20,
};

function pidOf(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error("the child process did not start");
  return child.pid;
}

export async function startCeiling(exportCount: number): Promise<RunningServer> {
  const child = spawnTracked(process.execPath, [benchScript("ceiling-server"), "--export-count", String(exportCount)], {
    cwd: REPO_ROOT,
  });
  const diagnostics = stderrTail(child);
  const ready = parseJsonRecord(await firstJsonLine(child, START_TIMEOUT_MS, diagnostics), "ceiling ready line");
  return {
    pid: pidOf(child),
    address: `127.0.0.1:${numberAt(ready, "port", "ceiling ready line")}`,
    diagnostics,
    stop: () => stopChild(child),
  };
}

export async function startService(options: ServiceOptions): Promise<ServiceProcess> {
  const address = `127.0.0.1:${await freeLoopbackPort()}`;
  const { profile } = options;
  const profiling =
    profile === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profile.dir}`, `--cpu-prof-name=${profile.name}`];
  // Written by the service itself: piped through this process, every line would cost CPU on the cores measured.
  const log = openSync(options.runLogFile, "w");
  const started = process.hrtime.bigint();
  const child = spawnTracked(process.execPath, [...profiling, SERVICE_ENTRY], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...options.databaseEnv,
      CHINOOK_DB: options.chinookSource,
      GRPC_ADDR: address,
      LOG_LEVEL: options.logLevel,
      ...options.env,
    },
    stdout: log,
  });
  closeSync(log);
  const tail = stderrTail(child);
  const diagnostics = () => `${tail()}\n(service log: ${options.runLogFile})`;
  await waitForServing(address, child, diagnostics);
  return {
    pid: pidOf(child),
    address,
    startupMs: Number(process.hrtime.bigint() - started) / 1e6,
    diagnostics,
    stop: async () => {
      await stopChild(child, 15_000);
      keepWarnings(options.runLogFile, options.logFile);
    },
  };
}

const PINO_WARN = 40;

/** Lines at warn or above, and anything that is not a JSON log line, are worth keeping. */
function keepWarnings(runLogFile: string, logFile: string): void {
  const kept = readFileSync(runLogFile, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "" && !belowWarn(line));
  if (kept.length > 0) writeFileSync(logFile, `${kept.join("\n")}\n`);
}

function belowWarn(line: string): boolean {
  try {
    const level: unknown = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level === "number" && level < PINO_WARN;
  } catch {
    return false;
  }
}

async function waitForServing(address: string, child: ChildProcess, diagnostics: () => string): Promise<void> {
  const health = typedClient(Health, address, grpc.credentials.createInsecure(), FAST_RECONNECT);
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the service exited (${child.exitCode ?? child.signalCode}) before SERVING\n${diagnostics()}`);
      }
      if (await isServing(health)) return;
      await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
    }
    throw new Error(`the service was not SERVING within ${START_TIMEOUT_MS} ms\n${diagnostics()}`);
  } finally {
    health.close();
  }
}

async function isServing(health: TypedClient<typeof Health>): Promise<boolean> {
  try {
    const { status } = await health.check({ service: "" }, { deadline: Date.now() + HEALTH_CALL_MS });
    return status === HealthCheckResponse_ServingStatus.SERVING;
  } catch {
    return false;
  }
}
