/**
 * The quantized dense index beside the exact scan, in the same run (issue 18, item 6): for each size, one child
 * process per mode (quantized-child.ts — separate processes so each resident-memory figure is that mode's own)
 * over identical seeded data, then recall@10 of each mode against the exact run's top 10, p50/p99 wall and
 * on-CPU latency, build time and RSS, with the ratios to the exact run.
 *
 * Modes: 'exact' (every float resident, every row scored), 'quantized' (the default: int8 scan, top
 * max(64, 2·limit) rescored from the float file) and, where asked, 'binary' (sign-bit prefilter keeping 10 % of
 * rows, then int8, then float). Clustered data is the realistic case; uniform data is the adversarial one that
 * decides whether a mode is safe as a default.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface ComparisonCase {
  chunks: number;
  dimensions: number;
  data: 'clustered' | 'uniform';
  modes: ('exact' | 'quantized' | 'binary')[];
  queries: number;
  words: number;
  hybrid: boolean;
}

interface ChildResult {
  chunks: number;
  buildSeconds: number;
  rssBytes: number;
  dense: Measured;
  hybrid?: Measured;
}
interface Measured {
  wall: number[];
  cpu: number[];
  top: string[][];
}

const quantile = (values: number[], at: number) => {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.floor(at * sorted.length))] as number;
};

function recallAt10(result: Measured, exact: Measured): number {
  let found = 0;
  let wanted = 0;
  result.top.forEach((top, query) => {
    const truth = new Set(exact.top[query]);
    wanted += truth.size;
    found += top.filter((id) => truth.has(id)).length;
  });
  return wanted === 0 ? 1 : found / wanted;
}

function runChild(item: ComparisonCase, mode: string): ChildResult {
  const output = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      join(import.meta.dirname, 'quantized-child.ts'),
      ...['--chunks', String(item.chunks), '--dimensions', String(item.dimensions), '--dense', mode],
      ...['--data', item.data, '--queries', String(item.queries), '--words', String(item.words)],
      ...['--hybrid', String(item.hybrid)],
    ],
    { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(output.trim().split('\n').pop() as string) as ChildResult;
}

/** Runs every case and prints its table; returns the figures for the benchmark's JSON line. */
export function compareQuantized(cases: ComparisonCase[]): Record<string, unknown>[] {
  const summaries: Record<string, unknown>[] = [];
  for (const item of cases) {
    console.log(
      `\nDense index modes at ${item.chunks.toLocaleString('en')} × ${item.dimensions} (${item.data} data, ` +
        `${item.queries} queries, dense limit 10${item.hybrid ? ', hybrid limit 50' : ''}):`,
    );
    const results = new Map<string, ChildResult>();
    for (const mode of item.modes) results.set(mode, runChild(item, mode));
    const exact = results.get('exact');
    if (!exact) throw new Error('every comparison needs the exact mode');
    const ms = (value: number) => `${value.toFixed(2)} ms`.padStart(10);
    for (const [mode, result] of results) {
      const denseRecall = recallAt10(result.dense, exact.dense);
      const hybridRecall = result.hybrid && exact.hybrid ? recallAt10(result.hybrid, exact.hybrid) : undefined;
      const summary = {
        chunks: result.chunks,
        dimensions: item.dimensions,
        data: item.data,
        mode,
        buildSeconds: result.buildSeconds,
        rssMiB: result.rssBytes / 2 ** 20,
        dense: {
          recallAt10: denseRecall,
          p50: quantile(result.dense.wall, 0.5),
          p99: quantile(result.dense.wall, 0.99),
          cpuP50: quantile(result.dense.cpu, 0.5),
        },
        ...(result.hybrid
          ? {
              hybrid: {
                recallAt10: hybridRecall,
                p50: quantile(result.hybrid.wall, 0.5),
                p99: quantile(result.hybrid.wall, 0.99),
                cpuP50: quantile(result.hybrid.cpu, 0.5),
              },
            }
          : {}),
      };
      summaries.push(summary);
      const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}×`;
      console.log(
        `  ${mode.padEnd(9)} dense recall@10 ${denseRecall.toFixed(4)}  p50${ms(summary.dense.p50)}  p99${ms(summary.dense.p99)}` +
          `  on-CPU p50${ms(summary.dense.cpuP50)} (${ratio(summary.dense.cpuP50, quantile(exact.dense.cpu, 0.5))} of exact)`,
      );
      if (summary.hybrid) {
        console.log(
          `  ${''.padEnd(9)} hybrid recall@10 ${(hybridRecall ?? 1).toFixed(4)} p50${ms(summary.hybrid.p50)}  p99${ms(summary.hybrid.p99)}` +
            `  on-CPU p50${ms(summary.hybrid.cpuP50)}${mode === 'exact' ? '' : `  (target p50 < 20 ms: ${summary.hybrid.p50 < 20 ? 'met' : 'NOT met'}, on-CPU ${summary.hybrid.cpuP50 < 20 ? 'met' : 'NOT met'})`}`,
        );
      }
      console.log(
        `  ${''.padEnd(9)} build ${result.buildSeconds.toFixed(1)} s (${ratio(result.buildSeconds, exact.buildSeconds)})` +
          `  RSS ${summary.rssMiB.toFixed(0)} MiB (${ratio(result.rssBytes, exact.rssBytes)} of exact)`,
      );
    }
  }
  return summaries;
}
