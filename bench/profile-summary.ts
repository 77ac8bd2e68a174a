/**
 * Where a `node --cpu-prof` profile spends its time: self time by function,
 * and time by area (npm package, our source folder, node internals, GC),
 * both as self time and as inclusive time (a sample counts once for every
 * area on its stack, so "kysely 40%" includes the SQLite calls it makes),
 * and the inclusive time of each of our own functions (src/): where a
 * handler's, the interceptor's or the cache's time actually goes.
 *
 *   node dist/bench/profile-summary.js PROFILE.cpuprofile [--top 25]
 */
import { readFileSync } from "node:fs";
import { arrayAt, asRecord, numberAt, numbersAt, parseJsonRecord, recordAt, stringAt, type JsonRecord } from "./json";
import { Flags } from "./flags";

interface ProfileNode {
  id: number;
  functionName: string;
  url: string;
  line: number;
  children: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Excludes (idle) and (program): the time the process actually worked; the lists below cover only this. */
  busyMs: number;
  selfByFunction: Array<[name: string, ms: number]>;
  selfByArea: Array<[area: string, ms: number]>;
  inclusiveByArea: Array<[area: string, ms: number]>;
  /** Our functions (src/) only, each counted once per sample whose stack holds it. */
  inclusiveByOwnFunction: Array<[name: string, ms: number]>;
}

const IDLE = new Set(["(idle)", "(program)"]);

function readNodes(profile: JsonRecord): Map<number, ProfileNode> {
  const nodes = new Map<number, ProfileNode>();
  for (const item of arrayAt(profile, "nodes", "profile")) {
    const node = asRecord(item, "node");
    const frame = recordAt(node, "callFrame", "node");
    const id = numberAt(node, "id", "node");
    nodes.set(id, {
      id,
      functionName: stringAt(frame, "functionName", "callFrame") || "(anonymous)",
      url: stringAt(frame, "url", "callFrame"),
      line: numberAt(frame, "lineNumber", "callFrame") + 1,
      children: node.children === undefined ? [] : numbersAt(node, "children", "node"),
    });
  }
  return nodes;
}

/** npm package, our top-level folder (src/customers, gen, bench), node internals, or a V8 pseudo-frame. */
export function areaOf(node: ProfileNode): string {
  if (node.url === "") return node.functionName.startsWith("(") ? node.functionName : "(native)";
  const packagePath = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(node.url);
  if (packagePath?.[1] !== undefined) return packagePath[1];
  if (node.url.startsWith("node:")) return "node internals";
  const ours = /\/dist\/((?:src|bench)\/[^/]+|gen|migrations)/.exec(node.url);
  if (ours?.[1] !== undefined) return ours[1].replace(/\.js$/, "");
  return node.url;
}

function functionLabel(node: ProfileNode): string {
  if (node.url === "") return node.functionName;
  const file = node.url.replace(/^.*\/(node_modules|dist)\//, "");
  return `${node.functionName} (${file}:${node.line})`;
}

function selfTimes(profile: JsonRecord): Map<number, number> {
  const samples = numbersAt(profile, "samples", "profile");
  const deltas = numbersAt(profile, "timeDeltas", "profile");
  const micros = new Map<number, number>();
  samples.forEach((id, index) => micros.set(id, (micros.get(id) ?? 0) + Math.max(0, deltas[index] ?? 0)));
  return micros;
}

function parents(nodes: Map<number, ProfileNode>): Map<number, number> {
  const parentOf = new Map<number, number>();
  for (const node of nodes.values()) for (const child of node.children) parentOf.set(child, node.id);
  return parentOf;
}

function add(totals: Map<string, number>, key: string, micros: number): void {
  totals.set(key, (totals.get(key) ?? 0) + micros);
}

function stackOf(id: number, nodes: Map<number, ProfileNode>, parentOf: Map<number, number>): ProfileNode[] {
  const stack: ProfileNode[] = [];
  for (let current: number | undefined = id; current !== undefined; current = parentOf.get(current)) {
    const node = nodes.get(current);
    if (node !== undefined && node.functionName !== "(root)") stack.push(node);
  }
  return stack;
}

function isOurs(node: ProfileNode): boolean {
  return areaOf(node).startsWith("src/");
}

function sortedMs(totals: Map<string, number>, top: number): Array<[string, number]> {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, micros]) => [key, micros / 1000]);
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = parseJsonRecord(readFileSync(file, "utf8"), "profile");
  const nodes = readNodes(profile);
  const parentOf = parents(nodes);
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, micros] of selfTimes(profile)) {
    const node = nodes.get(id);
    if (node === undefined) continue;
    total += micros;
    if (IDLE.has(node.functionName)) {
      idle += micros;
      continue;
    }
    add(byFunction, functionLabel(node), micros);
    add(byArea, areaOf(node), micros);
    const stack = stackOf(id, nodes, parentOf);
    for (const area of new Set(stack.map(areaOf))) add(inclusive, area, micros);
    for (const own of new Set(stack.filter(isOurs).map(functionLabel))) add(inclusiveOwn, own, micros);
  }
  return {
    totalMs: total / 1000,
    busyMs: (total - idle) / 1000,
    selfByFunction: sortedMs(byFunction, top),
    selfByArea: sortedMs(byArea, top),
    inclusiveByArea: sortedMs(inclusive, top),
    inclusiveByOwnFunction: sortedMs(inclusiveOwn, top),
  };
}

export function formatSummary(summary: ProfileSummary): string {
  const section = (title: string, rows: Array<[string, number]>): string =>
    [
      title,
      ...rows.map(([name, ms]) => {
        const share = percent(ms, summary.busyMs).padStart(6);
        return `  ${share}  ${ms.toFixed(0).padStart(7)} ms  ${name}`;
      }),
    ].join("\n");
  return [
    `profile: ${summary.totalMs.toFixed(0)} ms sampled, ${summary.busyMs.toFixed(0)} ms busy (percentages of busy)`,
    section("self time by area", summary.selfByArea),
    section("inclusive time by area", summary.inclusiveByArea),
    section("self time by function", summary.selfByFunction),
    section("inclusive time of our functions (src/)", summary.inclusiveByOwnFunction),
  ].join("\n\n");
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`;
}

if (require.main === module) {
  const [file, ...rest] = process.argv.slice(2);
  if (file === undefined) throw new Error("usage: profile-summary PROFILE.cpuprofile [--top N]");
  const top = new Flags(rest, ["top"]).integer("top", 25, 1);
  process.stdout.write(`${formatSummary(summarizeProfile(file, top))}\n`);
}
