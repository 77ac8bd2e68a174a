import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * Every process the bench starts is tracked here and killed when the bench
 * exits for any reason (normal end, error, Ctrl-C), so no server outlives it.
 */
const running = new Set<ChildProcess>();
const STDERR_TAIL_CHARS = 4000;

/** `stdout`: a file descriptor to write to directly, or a pipe to read from (the default). */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { stdout?: number },
): ChildProcess {
  const { stdout = "pipe", ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, stdio: ["ignore", stdout, "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

export function killAllChildren(): void {
  for (const child of running) child.kill("SIGKILL");
}

export function installChildCleanup(): void {
  process.once("exit", killAllChildren);
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping child processes\n`);
      killAllChildren();
      process.exit(code);
    });
  }
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Keeps the end of a child's stderr, to explain a failure. */
export function stderrTail(child: ChildProcess): () => string {
  let tail = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_TAIL_CHARS);
  });
  return () => tail.trim();
}

/** The first stdout line of `child` that is a JSON object; fails if it exits or times out first. */
export function firstJsonLine(child: ChildProcess, timeoutMs: number, describeFailure: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    if (child.stdout === null) throw new Error("child has no stdout");
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => fail(`no JSON line within ${timeoutMs} ms`), timeoutMs);
    const onExit = (code: number | null): void => fail(`exited (${code ?? "signal"}) before printing a JSON line`);
    function fail(reason: string): void {
      cleanup();
      reject(new Error(`${reason}\n${describeFailure()}`));
    }
    function cleanup(): void {
      clearTimeout(timer);
      child.off("exit", onExit);
      lines.close();
      // Keep draining so a chatty child never blocks on a full pipe.
      child.stdout?.resume();
    }
    child.once("exit", onExit);
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return;
      cleanup();
      resolve(line);
    });
  });
}

/** Runs `child` to completion and returns its stdout; kills it after `timeoutMs`. */
export function outputOf(child: ChildProcess, timeoutMs: number, describeFailure: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else {
        const timedOut = signal === "SIGKILL" ? " (timed out)" : "";
        reject(new Error(`exited with ${code ?? signal}${timedOut}\n${describeFailure()}`));
      }
    });
  });
}
