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

export function writeJson(file: URL, metrics: Metric[], rate: Throughput, meta: Meta): void {
  const results: Record<string, unknown> = {};
  for (const m of metrics) {
    results[m.name] = { p50_ms: round(m.client.p50), p95_ms: round(m.client.p95), raw_p50_ms: round(m.raw.p50), ratio: round(ratioOf(m)) };
  }
  results.requests_per_s = { value: Math.round(rate.value), raw_value: Math.round(rate.rawValue) };
  results.meta = meta;
  mkdirSync(new URL(".", file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

export function printTable(metrics: Metric[], rate: Throughput): void {
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
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const leftAligned = new Set([0, 5, 6]);
  for (const row of rows) {
    console.log(
      row
        .map((cell, i) => (leftAligned.has(i) ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join("  ")
        .trimEnd(),
    );
  }
}
