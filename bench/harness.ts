// What a benchmark group is and how it reports, shared by bench/run.ts and
// every group file (bench/<group>.ts).
import type { GpuFigure, GpuTarget } from './gpu';

/** One measured figure, a row of the results table. */
export interface BenchResult {
  group: string;
  name: string;
  /** Unit of `value`: 'GFLOP/s', 'ms', 'GB/s', 'images/s', ... */
  metric: string;
  value: number;
  /** What `value` is compared with (a measured peak, a reference figure, a target). */
  reference?: { value: number; label: string };
  /** value relative to the reference, oriented so that > 1 is better than the reference. */
  ratio?: number;
  /**
   * Time metrics only: CPU time of the measured process (all its threads) for
   * the same work, in the unit of `metric`. With T engine threads an idle
   * machine gives about T x value; much less means the run waited for cores
   * held by other processes.
   */
  cpu?: number;
  /** Extra numbers for the JSON output (min, reps, ...). */
  details?: Record<string, number | string>;
  /** The same work on the GPU backend (BenchContext.gpu), or why there is no figure: the table's GPU columns. */
  gpu?: GpuFigure;
}

export interface BenchContext {
  /** Engine threads in this process (CORNERNET_NUM_THREADS or the CPUs available). */
  threads: number;
  /** Lines printed under the table (skipped comparisons, caveats). */
  note(line: string): void;
  /**
   * The GPU backend that groups marked `gpu` also time (bench/gpu.ts
   * findGpu): null or absent when there is none, and then they time the CPU only.
   */
  gpu?: GpuTarget | null;
  /**
   * Testing only (`--tiny`): the smallest sizes and fewest repetitions the
   * group allows, so that a test runs it (and its GPU path on cuda-emu) in seconds.
   */
  tiny?: boolean;
}

export interface BenchGroup {
  name: string;
  description: string;
  /**
   * Engine threads the group needs. The pool size is fixed when the addon
   * loads, so the runner runs such a group in a child process with
   * CORNERNET_NUM_THREADS set when this process has another count.
   */
  threads?: number;
  /**
   * Takes a minute or more (a large generated file, the full-size model):
   * `--quick` skips it; `--only NAME` runs it all the same.
   */
  slow?: boolean;
  /** Runs only when named in `--only` (not part of `npm run bench`'s default run). */
  optIn?: boolean;
  /** Also times its work on the GPU backend when there is one (the table's GPU columns). */
  gpu?: boolean;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

export interface Timing {
  /** Milliseconds per call: the median, and the fastest. */
  medianMs: number;
  minMs: number;
  /**
   * CPU time of this process per call (all its threads), mean over the timed
   * calls: on a shared machine, wall time above cpuMs / threads means the
   * benchmark waited for a core rather than computed slowly.
   */
  cpuMs: number;
  reps: number;
}

/**
 * Times `fn` after `warmup` calls: at least `minReps` calls and at least
 * `minSeconds` of calls (at most `maxReps`). Tables report the fastest call
 * (as timeit advises): on a shared machine the slower ones measure the other
 * tenants; the median goes to the JSON next to it.
 */
export async function time(
  fn: () => unknown | Promise<unknown>,
  opts: { warmup?: number; minReps?: number; maxReps?: number; minSeconds?: number } = {}
): Promise<Timing> {
  const warmup = opts.warmup ?? 1;
  const minReps = opts.minReps ?? 3;
  const maxReps = opts.maxReps ?? 50;
  const minSeconds = opts.minSeconds ?? 1.5;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  while (samples.length < maxReps && (samples.length < minReps || performance.now() - started < minSeconds * 1000)) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000 / samples.length;
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  const medianMs = samples.length % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  return { medianMs, minMs: samples[0], cpuMs, reps: samples.length };
}

/** Deterministic uniform values in [-0.5, 0.5): benchmarks need no statistics, only non-trivial data. */
export function filled(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}
