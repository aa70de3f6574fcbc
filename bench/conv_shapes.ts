// The convolutions of small spatial sizes: a small model's heads (3x3 and 1x1
// at 32x32 with 128-256 channels) and the inner hourglass levels (4x4 to 16x16,
// 64-512 channels), at batch 8, next to the large layer (3x3 256->256 on
// 1x256x128x128) measured in the same run. Kernels alone (ops.timeKernel),
// forward and backward (gradX, gradWeight and gradBias), as GFLOP/s of the
// direct convolution's multiply-adds (Winograd layers do fewer), and the share
// of the large layer's rate.
import { timeKernel, type TensorData } from '../lib/ops';
import { filled, type BenchContext, type BenchGroup, type BenchResult } from './harness';

interface Shape {
  name: string;
  n: number;
  c: number;
  size: number;
  o: number;
  k: number;
  bias?: boolean;
}

const LARGE: Shape = { name: '3x3 256->256 @128x128 (the large layer)', n: 1, c: 256, size: 128, o: 256, k: 3 };
const SHAPES: Shape[] = [
  { name: 'head 3x3 32->128 @32x32 (corner pool branches)', n: 8, c: 32, size: 32, o: 128, k: 3 },
  { name: 'head 3x3 128->32 @32x32 (after the pools)', n: 8, c: 128, size: 32, o: 32, k: 3 },
  { name: 'head 3x3 32->256 @32x32, bias (prediction branches)', n: 8, c: 32, size: 32, o: 256, k: 3, bias: true },
  { name: 'head 1x1 256->3 @32x32, bias (heatmap output)', n: 8, c: 256, size: 32, o: 3, k: 1, bias: true },
  { name: 'hourglass 3x3 48->48 @16x16', n: 8, c: 48, size: 16, o: 48, k: 3 },
  { name: 'hourglass 3x3 64->64 @8x8', n: 8, c: 64, size: 8, o: 64, k: 3 },
  { name: 'hourglass 3x3 64->64 @4x4', n: 8, c: 64, size: 4, o: 64, k: 3 },
  { name: 'hourglass104 3x3 256->256 @16x16', n: 8, c: 256, size: 16, o: 256, k: 3 },
  { name: 'hourglass104 3x3 384->384 @8x8', n: 8, c: 384, size: 8, o: 384, k: 3 },
  { name: 'hourglass104 3x3 512->512 @4x4', n: 8, c: 512, size: 4, o: 512, k: 3 },
];
const TINY: Shape = { name: 'tiny 3x3 16->16 @8x8', n: 2, c: 16, size: 8, o: 16, k: 3 };

const tensorOf = (shape: number[], seed: number, scale = 1): TensorData => ({
  data: filled(shape.reduce((a, b) => a * b, 1), seed).map((v) => v * scale),
  shape,
});

/** Best milliseconds of the forward and the backward kernel, and CPU milliseconds per call of each. */
function timeShape(s: Shape, reps: number) {
  const pad = (s.k - 1) / 2;
  const x = tensorOf([s.n, s.c, s.size, s.size], 1);
  const weight = tensorOf([s.o, s.c, s.k, s.k], 2, 0.1);
  const args = { x, weight, padding: pad, ...(s.bias ? { bias: tensorOf([s.o], 3) } : {}) };
  const gradY = tensorOf([s.n, s.o, s.size, s.size], 4);
  const run = (op: string, a: object) => {
    const c0 = process.cpuUsage();
    const ms = timeKernel(op, a, { reps, warmup: 1 });
    const c = process.cpuUsage(c0);
    return { ms: Math.min(...ms), cpuMs: (c.user + c.system) / 1000 / (reps + 1) };
  };
  const fwd = run('conv2dForward', args);
  const bwd = run('conv2dBackward', { ...args, gradY });
  const flops = 2 * s.n * s.o * s.c * s.k * s.k * s.size * s.size;
  return { fwd, bwd, flops };
}

export async function runConvShapesBench(ctx: BenchContext): Promise<BenchResult[]> {
  const reps = ctx.tiny ? 1 : 8;
  const gflops = (flops: number, ms: number) => flops / ms / 1e6;
  const large = ctx.tiny ? null : timeShape(LARGE, 3);
  const rows: BenchResult[] = [];
  const add = (s: Shape, t: ReturnType<typeof timeShape>, ref: ReturnType<typeof timeShape> | null) => {
    for (const [pass, m, flops] of [['forward', t.fwd, t.flops], ['backward', t.bwd, 2 * t.flops]] as const) {
      const value = gflops(flops, m.ms);
      const refValue = ref ? gflops(pass === 'forward' ? ref.flops : 2 * ref.flops, pass === 'forward' ? ref.fwd.ms : ref.bwd.ms) : 0;
      rows.push({
        group: 'conv-shapes',
        name: `${s.name}, batch ${s.n}, ${pass}`,
        metric: 'GFLOP/s',
        value,
        ...(ref ? { reference: { value: refValue, label: `the large layer's ${pass}` }, ratio: value / refValue } : {}),
        details: { ms: m.ms, cpuMs: m.cpuMs, gflopPerCpuSecond: gflops(flops, m.cpuMs) },
      });
    }
  };
  if (large) add(LARGE, large, null);
  for (const s of ctx.tiny ? [TINY] : SHAPES) add(s, timeShape(s, reps), large);
  ctx.note(
    'conv-shapes: GFLOP/s count the direct convolution (2*N*O*C*k*k*H*W per pass, twice that for the backward), so Winograd layers show above the ' +
      "machine's FMA rate; the ratio is the share of the large layer's rate in the same run; details.gflopPerCpuSecond divides by CPU time instead (compare those under load)"
  );
  return rows;
}

export const convShapesGroups: BenchGroup[] = [
  {
    name: 'conv-shapes',
    description: 'convolutions at small spatial sizes (small-model heads, inner hourglass levels, batch 8) against the large layer, GFLOP/s',
    run: runConvShapesBench,
  },
];
