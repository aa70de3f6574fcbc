// Corner pool timings on a CornerNet-sized feature map (1x256x128x128, the
// 511x511 input's stride-4 maps), each next to a memcpy of the same bytes in
// the same run: corner pooling reads x once and writes y once, so a memcpy is
// the floor it is measured against.
//
// Two views of each: `kernel` times the kernel alone on buffers allocated once
// (ops.timeKernel; the baseline is the `copy` op's kernel, one memcpy of x's
// bytes into y); `call` times the whole JS call, which also allocates a fresh
// output each time (the baseline is ops.copy through the same path).
//
// On a GPU backend the baseline is that backend's own copy (device memory to
// device memory), and the call view includes the uploads and the download
// every call from JS pays. The bench runner times the GPU (when there is one)
// after the CPU and puts its figures in the same rows.
//
// Run alone: node dist/bench/corner_pool.js [backend]; as a group of the bench
// runner: `cornerPoolGroups`.
import { native } from '../lib/native';
import * as ops from '../lib/ops';
import { fmt3, missingOps, noKernel, type GpuFigure, type GpuTarget } from './gpu';
import type { BenchContext, BenchGroup, BenchResult } from './harness';
import { randomNormal } from './op_table';
import { Rng } from './rng';

export interface BenchRow {
  name: string;
  shape: number[];
  backend: string;
  reps: number;
  /** Medians in milliseconds: the kernel alone, and the whole op call from JS. */
  kernelMs: number;
  callMs: number;
  /** The same relative to the memcpy baseline row of this group. */
  kernelVsMemcpy?: number;
  callVsMemcpy?: number;
  /** No figures (NaN): the backend has no kernel for these engine ops. */
  missing?: string[];
}

export interface BenchOptions {
  backend?: string;
  shape?: number[];
  reps?: number;
  warmup?: number;
}

const median = (ms: ArrayLike<number>) => {
  const s = Array.from(ms).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

// Node runs the finalizers of addon-owned ArrayBuffers from the event loop,
// so a synchronous loop of calls frees no output until it ends (RSS grows by
// the output size per call and every call pays for fresh pages). Each call
// here is followed by an untimed turn of the event loop, as in real use.
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function timeCalls(fn: () => unknown, reps: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; ++i) {
    fn();
    await turn();
  }
  const ms: number[] = [];
  for (let i = 0; i < reps; ++i) {
    const t0 = process.hrtime.bigint();
    fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await turn();
  }
  return median(ms);
}

const CORNER_POOL_OPS = ['corner_pool_forward', 'corner_pool_backward'];

/**
 * The memcpy baseline first (the backend's copy op on the same bytes), then
 * each corner pool's forward, backward and forward+backward. Rows of ops the
 * backend has no kernel for hold NaN and say which.
 */
export async function benchCornerPool(opts: BenchOptions = {}): Promise<BenchRow[]> {
  const backend = opts.backend ?? 'cpu';
  const supports = new Set(native().backendInfo(backend).supports);
  const lacks = (names: string[]) => names.filter((o) => !supports.has(o));
  const shape = opts.shape ?? [1, 256, 128, 128];
  const reps = opts.reps ?? 30;
  const warmup = opts.warmup ?? 3;
  const rng = new Rng(7);
  const x = randomNormal(shape, rng);
  const gradY = randomNormal(shape, rng);
  const kernel = (op: string, args: object) => median(ops.timeKernel(op, args, { backend, reps, warmup }));
  const rows: BenchRow[] = [];
  const row = (name: string, kernelMs: number, callMs: number, missing: string[] = []) =>
    rows.push({ name, shape, backend, reps, kernelMs, callMs, ...(missing.length ? { missing } : {}) });

  // The baseline is the backend's own copy: a multithreaded memcpy on the CPU, device to device on a GPU.
  if (lacks(['copy']).length) row('memcpy (same bytes)', NaN, NaN, ['copy']);
  else row('memcpy (same bytes)', kernel('copy', { x }), await timeCalls(() => ops.copy({ x }, { backend }), reps, warmup));
  for (const mode of ['top', 'bottom', 'left', 'right'] as const) {
    const missing = lacks(CORNER_POOL_OPS);
    if (missing.length) {
      for (const what of ['forward', 'backward', 'forward+backward']) row(`corner_pool_${mode} ${what}`, NaN, NaN, missing);
      continue;
    }
    const fwdK = kernel('cornerPoolForward', { x, mode });
    const bwdK = kernel('cornerPoolBackward', { x, mode, gradY });
    const fwdC = await timeCalls(() => ops.cornerPoolForward({ x, mode }, { backend }), reps, warmup);
    const bwdC = await timeCalls(() => ops.cornerPoolBackward({ x, mode, gradY }, { backend }), reps, warmup);
    row(`corner_pool_${mode} forward`, fwdK, fwdC);
    row(`corner_pool_${mode} backward`, bwdK, bwdC);
    row(`corner_pool_${mode} forward+backward`, fwdK + bwdK, fwdC + bwdC);
  }
  const base = rows[0]!;
  for (const r of rows) {
    r.kernelVsMemcpy = r.kernelMs / base.kernelMs;
    r.callVsMemcpy = r.callMs / base.callMs;
  }
  return rows;
}

export function formatRows(rows: BenchRow[]): string {
  const r0 = rows[0];
  if (!r0) return '';
  const missing = [...new Set(rows.flatMap((r) => r.missing ?? []))];
  if (missing.length) return `corner pools on ${r0.backend}: ${noKernel(missing)}`;
  const head =
    `corner pools on [${r0.shape.join(',')}] (${r0.backend}), medians of ${r0.reps} runs\n` +
    `${''.padEnd(36)} ${'kernel ms'.padStart(10)} ${'x memcpy'.padStart(9)} ${'call ms'.padStart(10)} ${'x memcpy'.padStart(9)}`;
  const lines = rows.map(
    (r) =>
      `${r.name.padEnd(36)} ${r.kernelMs.toFixed(3).padStart(10)} ${(r.kernelVsMemcpy ?? 1).toFixed(2).padStart(9)} ` +
      `${r.callMs.toFixed(3).padStart(10)} ${(r.callVsMemcpy ?? 1).toFixed(2).padStart(9)}`
  );
  return [head, ...lines].join('\n');
}

// The target: a forward within 2x of the memcpy of the same bytes, i.e.
// memcpy ms / forward ms >= 0.5. Forward+backward reads x and gradY and writes
// gradX (and the argmax pass re-reads x), so only the forward has a stated target.
//
// `gpuRows` (the same rows on the GPU backend, in the same order) fill the GPU
// cells: the kernel view as x times the device's own copy of the same bytes,
// the copy row as that copy's bandwidth (bytes read + written).
function toResults(rows: BenchRow[], gpuRows: BenchRow[] | null): BenchResult[] {
  const group = 'corner-pool';
  const base = rows[0]!;
  const shape = base.shape.join('x');
  const gbase = gpuRows?.[0];
  const bytes = 2 * 4 * base.shape.reduce((a, b) => a * b, 1);
  const out: BenchResult[] = [];
  for (const view of ['kernel', 'call'] as const) {
    const pick = (r: BenchRow) => (view === 'kernel' ? r.kernelMs : r.callMs);
    const baseMs = pick(base);
    const what = view === 'kernel' ? 'kernel alone' : 'JS call, fresh output';
    const cell = (i: number, compare: (ms: number, copyMs: number) => string): GpuFigure | undefined => {
      const g = gpuRows?.[i];
      if (!g || !gbase) return undefined;
      if (g.missing) return { backend: g.backend, missing: noKernel(g.missing) };
      const ms = pick(g);
      const copyMs = pick(gbase);
      return { backend: g.backend, value: ms, metric: 'ms', compare: gbase.missing ? `no device copy to compare (${noKernel(gbase.missing)})` : compare(ms, copyMs) };
    };
    const copyCell = cell(0, (ms) =>
      view === 'kernel' ? `device copy: ${fmt3(bytes / (ms * 1e6))} GB/s read + write` : 'device copy, with upload and download'
    );
    out.push({
      group, name: `memcpy of ${shape} floats (${what})`, metric: 'ms', value: baseMs, details: { reps: base.reps, backend: base.backend },
      ...(copyCell ? { gpu: copyCell } : {}),
    });
    rows.forEach((r, i) => {
      if (i === 0 || r.name.endsWith(' backward')) return;
      const ms = pick(r);
      const fwd = r.name.endsWith(' forward');
      const g = cell(i, (gms, copyMs) => `${(gms / copyMs).toFixed(2)}x a device copy${view === 'call' ? ' call' : ''}`);
      out.push({
        group,
        name: `${r.name} (${what})`,
        metric: 'ms',
        value: ms,
        reference: { value: baseMs, label: fwd ? 'memcpy, same run; target ratio >= 0.5' : 'memcpy, same run' },
        ratio: baseMs / ms,
        details: { reps: r.reps, backend: r.backend, timesMemcpy: ms / baseMs },
        ...(g ? { gpu: g } : {}),
      });
    });
  }
  return out;
}

/** The group's sizes: CornerNet's stride-4 map at 511, or (--tiny, tests) a few values. */
function sizes(ctx: BenchContext): BenchOptions {
  return ctx.tiny ? { shape: [1, 2, 8, 8], reps: 3, warmup: 1 } : {};
}

/** The group for bench/run.ts: medians (this file's own statistic), kernel view then call view; the GPU after the CPU. */
export const cornerPoolGroups: BenchGroup[] = [
  {
    name: 'corner-pool',
    description: 'the four corner pools, forward and forward+backward on 1x256x128x128, vs a memcpy of the same bytes in the same run',
    gpu: true,
    run: async (ctx) => {
      const rows = await benchCornerPool(sizes(ctx));
      ctx.note(`corner-pool: medians of ${rows[0]!.reps} calls (no CPU times: the kernel view times inside the engine)`);
      const gpu: GpuTarget | null = ctx.gpu ?? null;
      let gpuRows: BenchRow[] | null = null;
      if (gpu) {
        gpuRows = await benchCornerPool({ ...sizes(ctx), backend: gpu.backend });
        if (!missingOps(gpu, [...CORNER_POOL_OPS, 'copy']).length)
          ctx.note(`corner-pool: on ${gpu.backend} the JS call view includes uploading the inputs and downloading the output`);
      }
      return toResults(rows, gpuRows);
    },
  },
];

if (require.main === module) {
  benchCornerPool({ backend: process.argv[2] ?? 'cpu' }).then(
    (rows) => console.log(formatRows(rows)),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    }
  );
}
