// Corner pool timings on a CornerNet-sized feature map (1x256x128x128, the
// 511x511 input's stride-4 maps), each next to a memcpy of the same bytes in
// the same run: corner pooling reads x once and writes y once, so a memcpy is
// the floor it is measured against.
//
// Two views of each: `kernel` times the kernel alone on buffers allocated once
// (ops.timeKernel; the baseline is the `copy` op's kernel, one memcpy of x's
// bytes into y); `call` times the whole JS call, which also allocates a fresh
// output each time (the baseline is ops.copy through the same path).
import * as ops from '../lib/ops';
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

/** The memcpy baseline first, then each corner pool's forward, backward and forward+backward. */
export async function benchCornerPool(opts: BenchOptions = {}): Promise<BenchRow[]> {
  const backend = opts.backend ?? 'cpu';
  const shape = opts.shape ?? [1, 256, 128, 128];
  const reps = opts.reps ?? 30;
  const warmup = opts.warmup ?? 3;
  const rng = new Rng(7);
  const x = randomNormal(shape, rng);
  const gradY = randomNormal(shape, rng);
  const kernel = (op: string, args: object) => median(ops.timeKernel(op, args, { backend, reps, warmup }));
  const rows: BenchRow[] = [];
  const row = (name: string, kernelMs: number, callMs: number) => rows.push({ name, shape, backend, reps, kernelMs, callMs });

  // The copy baseline is a host memcpy; it runs on the CPU whatever `backend` is.
  row('memcpy (same bytes)', median(ops.timeKernel('copy', { x }, { reps, warmup })), await timeCalls(() => ops.copy({ x }), reps, warmup));
  for (const mode of ['top', 'bottom', 'left', 'right'] as const) {
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

if (require.main === module) {
  benchCornerPool({ backend: process.argv[2] ?? 'cpu' }).then(
    (rows) => console.log(formatRows(rows)),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    }
  );
}
