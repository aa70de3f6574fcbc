// Every entry of the op table (bench/op_table.ts) at its bench sizes, the
// CornerNet-sized calls of every engine op: kernels alone (timeEntry, i.e.
// ops.timeKernel on inputs uploaded once, medians), forward and backward, on
// the CPU and, when there is one, on the GPU backend next to them.
//
// On the GPU, convolutions are given in GFLOP/s (the CPU's beside them) and
// every other op as x times a device copy of the bytes it moves (its argument
// and result tensors, read once and written once), the copy's bandwidth
// measured on that backend in the same run: 1.00x means the kernel moves its
// bytes as fast as the device copies memory.
//
// Opt-in (`npm run bench -- --only ops`): it adds a minute of CPU timings that
// the other groups' rows already cover for the heavy ops, so `npm run bench`
// leaves it out.
//
// Run alone: node dist/bench/ops.js [gpu-backend]
import { native } from '../lib/native';
import * as ops from '../lib/ops';
import type { TensorData } from '../lib/ops';
import { findGpu, fmt3, missingFigure, missingOps, type GpuFigure, type GpuTarget } from './gpu';
import type { BenchContext, BenchGroup, BenchResult } from './harness';
import { OP_TABLE, caseLabel, prepare, timeEntry, type OpCase, type OpEntry } from './op_table';

const GROUP = 'ops';
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const isTensor = (v: unknown): v is TensorData => typeof v === 'object' && v !== null && (v as TensorData).data instanceof Float32Array;

/** Bytes of every tensor among `values` (an op call's arguments, its results). */
function tensorBytes(values: Iterable<unknown>): number {
  let n = 0;
  for (const v of values) if (isTensor(v)) n += 4 * v.data.length;
  return n;
}

const isConv = (e: OpEntry) => e.engineOps.includes('conv2d_forward');

/**
 * What one forward and one backward run moves (bytes) or computes (flops, convolutions):
 * forward, its arguments and outputs; backward, its arguments and one gradient per gradient input.
 */
function workOf(e: OpEntry, c: OpCase): { forward: { bytes: number; flops: number }; backward: { bytes: number; flops: number } | null } {
  const { inputs, outputs, gradOutputs } = prepare(e, c, 1, 'cpu');
  const fwd = e.forwardCall(inputs, c);
  const bwd = e.backwardCall(inputs, outputs, gradOutputs, c);
  let flops = 0;
  if (isConv(e) && c.weight) {
    const y = outputs.y!;
    const [, cin, kh, kw] = c.weight;
    flops = 2 * numel(y.shape) * cin! * kh! * kw!;
  }
  const gradBytes = e.gradInputs.reduce((n, name) => n + 4 * (inputs[name]?.data.length ?? 0), 0);
  return {
    forward: { bytes: tensorBytes(Object.values(fwd.args)) + tensorBytes(Object.values(outputs)), flops },
    // gradX and gradWeight: two GEMMs of the forward's size.
    backward: bwd ? { bytes: tensorBytes(Object.values(bwd.args)) + gradBytes, flops: 2 * flops } : null,
  };
}

/** The device copy's bandwidth (GB/s, bytes read + written) on 4 Mi floats, median of `reps`. */
function copyBandwidth(backend: string, reps: number, warmup: number): number {
  const x = { data: new Float32Array(1 << 22).fill(1), shape: [1 << 22] };
  const ms = ops.timeKernel('copy', { x }, { backend, reps, warmup });
  const s = Array.from(ms).sort((a, b) => a - b);
  return (2 * 4 * x.data.length) / (s[s.length >> 1]! * 1e6);
}

interface Timed {
  forwardMs: number;
  backwardMs: number | null;
}

export async function runOps(ctx: BenchContext): Promise<BenchResult[]> {
  const reps = ctx.tiny ? 3 : 10;
  const warmup = ctx.tiny ? 1 : 2;
  const gpu: GpuTarget | null = ctx.gpu ?? null;
  const gpuCopyGBs = gpu && gpu.supports.has('copy') ? copyBandwidth(gpu.backend, reps, warmup) : null;
  const out: BenchResult[] = [];
  for (const e of OP_TABLE) {
    // --tiny: the entry's first gradient-check case, a few values.
    for (const c of ctx.tiny ? e.cases.test.slice(0, 1) : e.cases.bench) {
      const work = workOf(e, c);
      const cpu: Timed = timeEntry(e, c, { backend: 'cpu', reps, warmup });
      let onGpu: Timed | GpuFigure | null = null;
      if (gpu) {
        const missing = missingOps(gpu, e.engineOps);
        if (missing.length) onGpu = missingFigure(gpu, missing);
        else {
          try {
            onGpu = timeEntry(e, c, { backend: gpu.backend, reps, warmup });
          } catch (err) {
            onGpu = { backend: gpu.backend, missing: `failed: ${err instanceof Error ? err.message : String(err)}` };
          }
        }
      }
      for (const pass of ['forward', 'backward'] as const) {
        const ms = pass === 'forward' ? cpu.forwardMs : cpu.backwardMs;
        const w = pass === 'forward' ? work.forward : work.backward;
        if (ms === null || !w) continue;
        const cpuRate: Record<string, number> = w.flops ? { gflops: w.flops / (ms * 1e6) } : { gbPerS: w.bytes / (ms * 1e6) };
        let cell: GpuFigure | undefined;
        if (onGpu && 'backend' in onGpu) cell = onGpu;
        else if (onGpu && gpu) {
          const g = pass === 'forward' ? onGpu.forwardMs : onGpu.backwardMs;
          if (g === null) cell = { backend: gpu.backend, missing: 'no backward kernel' };
          else if (w.flops) {
            cell = { backend: gpu.backend, value: g, metric: 'ms', compare: `${fmt3(w.flops / (g * 1e6))} GFLOP/s (CPU ${fmt3(cpuRate.gflops!)})`, details: { gflops: w.flops / (g * 1e6) } };
          } else {
            const gbs = w.bytes / (g * 1e6);
            cell = {
              backend: gpu.backend, value: g, metric: 'ms',
              compare: gpuCopyGBs ? `${(gpuCopyGBs / gbs).toFixed(2)}x a device copy of its bytes (${fmt3(gbs)} GB/s)` : `${fmt3(gbs)} GB/s (no device copy kernel to compare)`,
              details: { gbPerS: gbs, ...(gpuCopyGBs ? { deviceCopyGbPerS: gpuCopyGBs } : {}) },
            };
          }
        }
        out.push({
          group: GROUP,
          name: `${e.name} ${caseLabel(c)} ${pass} (kernel alone)`,
          metric: 'ms',
          value: ms,
          details: { reps, bytes: w.bytes, ...(w.flops ? { flops: w.flops } : {}), ...cpuRate },
          ...(cell ? { gpu: cell } : {}),
        });
      }
    }
  }
  ctx.note(`ops: medians of ${reps} runs of each kernel alone (ops.timeKernel: inputs uploaded, outputs allocated once)`);
  if (gpuCopyGBs) ctx.note(`ops: ${gpu!.backend} copies ${fmt3(gpuCopyGBs)} GB/s (4 Mi floats, read + write): the baseline of its "x a device copy" cells`);
  return out;
}

export const opsGroups: BenchGroup[] = [
  {
    name: 'ops',
    description: 'opt-in (--only ops): every op-table entry at its bench sizes, forward and backward kernels alone; on the GPU vs a device copy / GFLOP/s',
    optIn: true,
    gpu: true,
    run: runOps,
  },
];

if (require.main === module) {
  const notes: string[] = [];
  const gpu = process.argv[2] ? findGpu(process.argv[2]).gpu : findGpu().gpu;
  runOps({ threads: native().info().threads, note: (l) => notes.push(l), gpu }).then(
    (rows) => {
      for (const r of rows) console.log(`${r.name}: ${r.value.toFixed(3)} ms${r.gpu ? `   ${r.gpu.backend}: ${r.gpu.value !== undefined ? `${r.gpu.value.toFixed(3)} ms, ${r.gpu.compare}` : r.gpu.missing}` : ''}`);
      for (const n of notes) console.log(`note: ${n}`);
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    }
  );
}
