import { mkdirSync, writeFileSync } from "node:fs";
import type { Summary } from "./stats.js";

/** What a metric is held to. Ratios compare the client p50 with the raw p50 of the same run. */
export type Target = { maxRatio: number } | { maxP50Ms: number };

export interface Metric {
  name: string;
  client: Summary;
  raw: Summary;
  target?: Target;
}

export interface Throughput {
  value: number;
  rawValue: number;
  minValue: number;
}

/** Resident memory (VmRSS) of the sidecar process and of its descendants, in MiB. */
export interface TreeMemory {
  sidecarMiB: number;
  childrenMiB: number;
  totalMiB: number;
  /** The descendants' RSS by executable name (secure-exec-v8, esbuild, ...). */
  children?: Record<string, number>;
}

/** A dedicated sidecar with one Pi VM, before and after one idle session; `rawMiB`: that session as a host process. */
export interface MemoryReport {
  before: TreeMemory;
  after: TreeMemory;
  rawMiB: number;
}

export interface Meta {
  node: string;
  cpu: string;
  cores: number;
  date: string;
  iterations: Record<string, number>;
  warmup: Record<string, number>;
  duration_s: number;
}

const ratioOf = (m: Metric) => m.client.p50 / m.raw.p50;
// Significant digits rather than fixed decimals: raw in-process calls take microseconds, and a ratio
// recomputed from the JSON should still match the printed one.
const round = (n: number) => Number(n.toPrecision(4));

function targetLabel(target: Target | undefined): string {
  if (!target) return "";
  return "maxRatio" in target ? `ratio ≤ ${target.maxRatio}` : `p50 ≤ ${target.maxP50Ms} ms`;
}

function targetMet(m: Metric): boolean | undefined {
  if (!m.target) return undefined;
  return "maxRatio" in m.target ? ratioOf(m) <= m.target.maxRatio : m.client.p50 <= m.target.maxP50Ms;
}

const verdict = (met: boolean | undefined) => (met === undefined ? "" : met ? "met" : "MISSED");

const mib = (n: number) => Number(n.toFixed(1));

function treeJson(tree: TreeMemory): Record<string, unknown> {
  const json: Record<string, unknown> = {
    sidecar_mib: mib(tree.sidecarMiB),
    children_mib: mib(tree.childrenMiB),
    total_mib: mib(tree.totalMiB),
  };
  if (tree.children) json.children_mib_by_name = Object.fromEntries(Object.entries(tree.children).map(([k, v]) => [k, mib(v)]));
  return json;
}

export function writeJson(file: URL, metrics: Metric[], rate: Throughput, memory: MemoryReport, meta: Meta): void {
  const results: Record<string, unknown> = {};
  for (const m of metrics) {
    results[m.name] = { p50_ms: round(m.client.p50), p95_ms: round(m.client.p95), raw_p50_ms: round(m.raw.p50), ratio: round(ratioOf(m)) };
  }
  results.requests_per_s = { value: Math.round(rate.value), raw_value: Math.round(rate.rawValue) };
  results.rss_idle_session = {
    before: treeJson(memory.before),
    after: treeJson(memory.after),
    delta_mib: mib(memory.after.totalMiB - memory.before.totalMiB),
    raw_mib: mib(memory.rawMiB),
  };
  results.meta = meta;
  mkdirSync(new URL(".", file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

export function printTable(metrics: Metric[], rate: Throughput, memory: MemoryReport): void {
  const ms = (n: number) => n.toFixed(n < 1 ? 4 : 1);
  const rows = [
    ["metric", "p50 ms", "p95 ms", "raw p50 ms", "ratio", "target", ""],
    ...metrics.map((m) => [
      m.name,
      ms(m.client.p50),
      ms(m.client.p95),
      ms(m.raw.p50),
      ratioOf(m).toFixed(2),
      targetLabel(m.target),
      verdict(targetMet(m)),
    ]),
    [
      "requests_per_s",
      `${Math.round(rate.value)}/s`,
      "",
      `${Math.round(rate.rawValue)}/s`,
      (rate.value / rate.rawValue).toFixed(2),
      `≥ ${rate.minValue.toLocaleString("en-US")}/s`,
      verdict(rate.value >= rate.minValue),
    ],
  ];
  printColumns(rows, new Set([0, 5, 6]));

  const mb = (n: number) => n.toFixed(1);
  const byName = Object.entries(memory.after.children ?? {})
    .map(([name, value]) => `${name} ${mb(value)}`)
    .join(", ");
  console.log();
  printColumns(
    [
      ["memory (RSS, MiB)", "sidecar", "children", "total", ""],
      ["VM, no session", mb(memory.before.sidecarMiB), mb(memory.before.childrenMiB), mb(memory.before.totalMiB), ""],
      [
        "VM + one idle Pi session",
        mb(memory.after.sidecarMiB),
        mb(memory.after.childrenMiB),
        mb(memory.after.totalMiB),
        byName ? `children: ${byName}` : "",
      ],
    ],
    new Set([0, 4]),
  );
  console.log(
    `one idle Pi session: +${mb(memory.after.totalMiB - memory.before.totalMiB)} MiB in the sidecar's tree; ` +
      `the same session as a host process: ${mb(memory.rawMiB)} MiB`,
  );
}

function printColumns(rows: string[][], leftAligned: Set<number>): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows) {
    console.log(
      row
        .map((cell, i) => (leftAligned.has(i) ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join("  ")
        .trimEnd(),
    );
  }
}
