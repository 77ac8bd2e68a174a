/**
 * The load generator: its own process, so the server's CPU can be read on
 * its own. Keeps exactly `concurrency` calls in flight (each finished call
 * starts the next), warms up, then measures a fixed window.
 *
 *   node dist/bench/load.js --workload GetCustomer --target 127.0.0.1:50051
 *     [--concurrency 16] [--warmup 2] [--seconds 5] [--facts facts.json] [--server-pid PID]
 *
 * Prints one JSON line (see LoadResult). With --server-pid it also reads the
 * server's CPU time and RSS from /proc at the exact edges of the window.
 */
import { randomInt } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { loadFacts, type DatasetFacts } from "./facts";
import { Flags } from "./flags";
import { LatencyHistogram } from "./histogram";
import type { LoadResult, ServerUsage } from "./load-result";
import { cpuMicros, PeakRss, rssBytes } from "./proc";
import { Random } from "./random";
import { RawClient } from "./raw-client";
import {
  isStreaming,
  isWorkload,
  streamingCall,
  unaryCall,
  WORKLOADS,
  type StreamingCall,
  type UnaryCall,
  type Workload,
} from "./workloads";

export interface LoadOptions {
  workload: Workload;
  target: string;
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
  facts: DatasetFacts;
  serverPid: number | undefined;
}

const CALL_DEADLINE_MS = 10_000;
const DRAIN_TIMEOUT_MS = 15_000;
const ERROR_SAMPLE_CHARS = 300;
const PLACEHOLDER_FACTS: DatasetFacts = {
  rows: 1,
  minCustomerId: 1,
  maxCustomerId: 1,
  activeCustomerIds: [1],
  minTrackId: 1,
  maxTrackId: 1,
  listFilters: [{ country: "USA", loyaltyTier: 0 }],
  exportCount: 1,
};

/** Where the run is: warming up, inside the timed window, or draining after it. */
class Phase {
  measuring = false;
  stopped = false;
  readonly openStreams = new Set<grpc.ClientReadableStream<Buffer>>();
}

class Tally {
  readonly latencies = new LatencyHistogram();
  messages = 0;
  /** Calls started and not yet finished, whatever the phase. */
  pending = 0;
  /** The longest call that finished, in any phase: shows why a window saw no completion at all. */
  slowestNanos = 0;
  readonly errors = new Map<string, number>();
  readonly errorsOutsideWindow = new Map<string, number>();
  readonly errorSamples = new Map<string, string>();

  finished(started: bigint, phase: Phase, succeeded: boolean): void {
    const nanos = Number(process.hrtime.bigint() - started);
    this.pending--;
    this.slowestNanos = Math.max(this.slowestNanos, nanos);
    if (succeeded && phase.measuring) this.latencies.record(nanos);
  }

  failure(error: unknown, phase: Phase): void {
    const code = statusName(error);
    const counts = phase.measuring ? this.errors : this.errorsOutsideWindow;
    counts.set(code, (counts.get(code) ?? 0) + 1);
    if (!this.errorSamples.has(code)) this.errorSamples.set(code, messageOf(error).slice(0, ERROR_SAMPLE_CHARS));
  }
}

function statusName(error: unknown): string {
  if (error instanceof Error && "code" in error && typeof error.code === "number") {
    return grpc.status[error.code] ?? `STATUS_${error.code}`;
  }
  return "CLIENT_ERROR";
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isCancellation(error: unknown): boolean {
  return statusName(error) === "CANCELLED";
}

async function unaryWorker(call: UnaryCall, phase: Phase, tally: Tally): Promise<void> {
  while (!phase.stopped) {
    const started = process.hrtime.bigint();
    tally.pending++;
    try {
      await call({ deadline: Date.now() + CALL_DEADLINE_MS });
      tally.finished(started, phase, true);
    } catch (error) {
      tally.finished(started, phase, false);
      tally.failure(error, phase);
    }
  }
}

/** Back-to-back exports; the stream's own flow control paces the server. */
async function streamingWorker(call: StreamingCall, phase: Phase, tally: Tally): Promise<void> {
  while (!phase.stopped) {
    const started = process.hrtime.bigint();
    const stream = call();
    phase.openStreams.add(stream);
    tally.pending++;
    try {
      await consume(stream, phase, tally);
      tally.finished(started, phase, true);
    } catch (error) {
      tally.finished(started, phase, false);
      // Once stopped, the window is over and CANCELLED is our own doing.
      if (!(phase.stopped && isCancellation(error))) tally.failure(error, phase);
    } finally {
      phase.openStreams.delete(stream);
    }
  }
}

function consume(stream: grpc.ClientReadableStream<Buffer>, phase: Phase, tally: Tally): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on("data", () => {
      if (phase.measuring) tally.messages++;
    });
    stream.once("error", reject);
    stream.once("end", resolve);
  });
}

/** The server's CPU time and memory across the window, read from /proc. */
class ServerSampler {
  private readonly cpuBefore: number;
  private readonly rssBefore: number;
  private readonly peak: PeakRss;

  constructor(private readonly pid: number) {
    this.cpuBefore = cpuMicros(pid);
    this.rssBefore = rssBytes(pid);
    this.peak = new PeakRss(pid);
  }

  finish(operations: number): ServerUsage {
    const cpu = cpuMicros(this.pid) - this.cpuBefore;
    return {
      pid: this.pid,
      cpuMicros: cpu,
      cpuMicrosPerOp: operations === 0 ? null : cpu / operations,
      rssBeforeBytes: this.rssBefore,
      rssAfterBytes: rssBytes(this.pid),
      rssPeakBytes: this.peak.stop(),
    };
  }
}

interface WindowEdges {
  startedNanos: bigint;
  clientCpu: NodeJS.CpuUsage;
  server: ServerSampler | undefined;
}

function openWindow(phase: Phase, serverPid: number | undefined): WindowEdges {
  const edges = {
    startedNanos: process.hrtime.bigint(),
    clientCpu: process.cpuUsage(),
    server: serverPid === undefined ? undefined : new ServerSampler(serverPid),
  };
  phase.measuring = true;
  return edges;
}

function startWorkers(options: LoadOptions, client: RawClient, phase: Phase, tally: Tally): Array<Promise<void>> {
  const { workload, facts, concurrency } = options;
  return Array.from({ length: concurrency }, () => {
    const random = new Random(randomInt(2 ** 31));
    return isStreaming(workload)
      ? streamingWorker(streamingCall(workload, client), phase, tally)
      : unaryWorker(unaryCall(workload, client, facts, random), phase, tally);
  });
}

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

async function drain(workers: Array<Promise<void>>, phase: Phase): Promise<void> {
  for (const stream of phase.openStreams) stream.cancel();
  await Promise.race([Promise.all(workers), sleep(DRAIN_TIMEOUT_MS / 1000)]);
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const client = new RawClient(options.target);
  const phase = new Phase();
  const tally = new Tally();
  const workers = startWorkers(options, client, phase, tally);
  await sleep(options.warmupSeconds);
  const edges = openWindow(phase, options.serverPid);
  await sleep(options.seconds);
  phase.measuring = false;
  phase.stopped = true;
  const seconds = Number(process.hrtime.bigint() - edges.startedNanos) / 1e9;
  const clientCpu = process.cpuUsage(edges.clientCpu);
  const streaming = isStreaming(options.workload);
  const operations = streaming ? tally.messages : tally.latencies.count;
  const server = edges.server?.finish(operations) ?? null;
  await drain(workers, phase);
  client.close();
  return {
    workload: options.workload,
    target: options.target,
    concurrency: options.concurrency,
    seconds,
    requests: tally.latencies.count,
    rps: tally.latencies.count / seconds,
    messages: streaming ? tally.messages : null,
    messagesPerSecond: streaming ? tally.messages / seconds : null,
    p50Ms: tally.latencies.percentileMs(0.5),
    p99Ms: tally.latencies.percentileMs(0.99),
    maxMs: tally.latencies.maxMs(),
    slowestCallMs: tally.slowestNanos === 0 ? null : tally.slowestNanos / 1e6,
    unfinishedCalls: tally.pending,
    errors: Object.fromEntries(tally.errors),
    errorsOutsideWindow: Object.fromEntries(tally.errorsOutsideWindow),
    errorSamples: Object.fromEntries(tally.errorSamples),
    server,
    clientCpuMicros: clientCpu.user + clientCpu.system,
  };
}

function optionsFrom(argv: readonly string[]): LoadOptions {
  const flags = new Flags(argv, ["workload", "target", "concurrency", "warmup", "seconds", "facts", "server-pid"]);
  const workload = flags.string("workload", "");
  if (!isWorkload(workload)) throw new Error(`--workload must be one of ${WORKLOADS.join(", ")}`);
  const target = flags.optionalString("target");
  if (target === undefined) throw new Error("--target host:port is required");
  const factsFile = flags.optionalString("facts");
  const serverPid = flags.integer("server-pid", 0, 0);
  return {
    workload,
    target,
    concurrency: flags.integer("concurrency", 16, 1),
    warmupSeconds: flags.number("warmup", 2),
    seconds: flags.number("seconds", 5, 0.1),
    facts: factsFile === undefined ? PLACEHOLDER_FACTS : loadFacts(factsFile),
    serverPid: serverPid === 0 ? undefined : serverPid,
  };
}

if (require.main === module) {
  runLoad(optionsFrom(process.argv.slice(2)))
    .then((result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      // Sockets the channel may still hold must not delay the runner.
      process.exit(0);
    })
    .catch((error: unknown) => {
      process.stderr.write(`load failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    });
}
