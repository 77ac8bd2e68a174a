import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

/** How long a test waits for the service process to say or do something. */
export const WAIT_MS = 10_000;
export const MAIN_JS = path.resolve(__dirname, "../../dist/src/main.js");

export type LogLine = Record<string, unknown>;

/** `promise`, or a rejection naming what was awaited once WAIT_MS pass. */
export function withinBound<T>(promise: Promise<T>, waitingFor: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${waitingFor} within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Fails at once, with what to do, when the compiled service is missing. */
export function assertBuilt(): void {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run "npm run build" (npm test does)`);
}

export type MainProcess = ReturnType<typeof runMain>;

/** `node dist/src/main.js`, as `npm start` runs it, with only the environment given. */
export function runMain(env: Record<string, string>) {
  return runProgram(process.execPath, [MAIN_JS], env);
}

/** `command` with only the environment given, its output kept, its JSON lines parsed. */
export function runProgram(command: string, args: readonly string[], env: Record<string, string>, cwd?: string) {
  const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output.stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output.stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const lines = () => output.stdout.split("\n").filter((line) => line.trim() !== "").map(parsedLine);
  return {
    child,
    lines,
    stderr: () => output.stderr,
    exitCode: () => withinBound(exited, "exit of the service"),
    /** The first log line whose message starts with `prefix`, once written. */
    logLine(prefix: string): Promise<LogLine> {
      const found = () => lines().find((line) => String(line.msg).startsWith(prefix));
      return withinBound(
        new Promise<LogLine>((resolve, reject) => {
          const look = () => {
            const line = found();
            if (line !== undefined) resolve(line);
          };
          child.stdout.on("data", look);
          void exited.then(() => {
            look();
            reject(new Error(`exited without logging "${prefix}": ${output.stdout}${output.stderr}`));
          });
          look();
        }),
        `"${prefix}" log line`,
      );
    },
  };
}

function parsedLine(line: string): LogLine {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return { notJson: line };
  }
}
