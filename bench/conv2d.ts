// A CornerNet-sized 3x3 convolution (256 -> 256 channels on 1x256x128x128, the
// hourglass's most common layer) forward and forward+backward, next to
// PyTorch's figures on this machine; and PyTorch itself in the same run when
// python3 can import torch. The `conv2d` group also times the same layer's
// kernels on the GPU backend when there is one (GFLOP/s next to the CPU's).
import { conv2dBackward, conv2dForward, tensor, timeKernel } from '../lib/ops';
import { fmt3, missingFigure, missingOps, type GpuFigure, type GpuTarget } from './gpu';
import { filled, time, type BenchContext, type BenchGroup, type BenchResult } from './harness';
import { runTorchScript } from './pytorch';

interface Layer {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  K: number;
  PAD: number;
}
const FULL: Layer = { N: 1, C: 256, H: 128, W: 128, O: 256, K: 3, PAD: 1 };
/** --tiny (tests): the same kind of layer on a few values, so that the emulator runs it in a moment. */
const TINY: Layer = { N: 1, C: 4, H: 8, W: 8, O: 4, K: 3, PAD: 1 };
const layerName = (l: Layer) => `${l.K}x${l.K} ${l.C}->${l.O} on ${l.N}x${l.C}x${l.H}x${l.W}`;
const LAYER = layerName(FULL);
// PyTorch (oneDNN), 2 threads, as measured by the project lead on this 2-core Sapphire Rapids machine;
// compared only when this run has 2 engine threads too.
const TORCH_REFERENCE = { forwardMs: 46, forwardBackwardMs: 161, label: 'PyTorch oneDNN, 2 threads' };

interface TorchTimes {
  torch: string;
  forward_ms: number;
  forward_backward_ms: number;
}

function torchSideBySide(threads: number, ctx: BenchContext): TorchTimes | null {
  const { N, C, H, W, O, K, PAD } = FULL;
  return runTorchScript<TorchTimes>(ctx, 'conv2d', 'pytorch_conv2d.py', [threads, N, C, H, W, O, K, PAD].map(String), 300_000);
}

/**
 * The layer's kernels alone on the GPU (ops.timeKernel: inputs uploaded and
 * outputs allocated once, each run synchronized), best of `reps`: forward, and
 * forward + backward as the sum of the two kernels.
 */
function gpuFigures(gpu: GpuTarget, args: { x: object; weight: object; bias: object; gradY: object; padding: number }, flops: number, cpu: { fwdMs: number; fbMs: number }, tiny: boolean) {
  const missing = missingOps(gpu, ['conv2d_forward', 'conv2d_backward']);
  if (missing.length) return { fwd: missingFigure(gpu, missing), fb: missingFigure(gpu, missing) };
  const o = { backend: gpu.backend, reps: tiny ? 2 : 20, warmup: tiny ? 1 : 3 };
  const { x, weight, bias, gradY, padding } = args;
  const fwdMs = Math.min(...timeKernel('conv2dForward', { x, weight, bias, padding }, o));
  const bwdMs = Math.min(...timeKernel('conv2dBackward', { x, weight, gradY, padding }, o));
  const gf = (f: number, ms: number) => f / (ms * 1e6);
  const fig = (ms: number, f: number, cpuMs: number): GpuFigure => ({
    backend: gpu.backend,
    value: ms,
    metric: 'ms',
    compare: `${fmt3(gf(f, ms))} GFLOP/s (CPU ${fmt3(gf(f, cpuMs))})`,
    details: { gflops: gf(f, ms), reps: o.reps, forwardMs: fwdMs, backwardMs: bwdMs },
  });
  return { fwd: fig(fwdMs, flops, cpu.fwdMs), fb: fig(fwdMs + bwdMs, 3 * flops, cpu.fbMs) };
}

async function run(group: string, ctx: BenchContext): Promise<BenchResult[]> {
  const L = ctx.tiny ? TINY : FULL;
  const { N, C, H, W, O, K, PAD } = L;
  const LAYER = layerName(L);
  // The PyTorch figures are for the full layer on 2 threads.
  const compare = ctx.threads === 2 && !ctx.tiny;
  const x = tensor(filled(N * C * H * W, 1), [N, C, H, W]);
  const weight = tensor(filled(O * C * K * K, 2).map((v) => v * 0.05), [O, C, K, K]);
  const bias = tensor(filled(O, 3), [O]);
  const gradY = tensor(filled(N * O * H * W, 4), [N, O, H, W]);
  const flops = 2 * N * O * H * W * C * K * K;
  const reps = ctx.tiny ? { minReps: 2, minSeconds: 0 } : null;

  const fwd = await time(() => conv2dForward({ x, weight, bias, padding: PAD }), reps ?? { minReps: 5, minSeconds: 3 });
  const fb = await time(
    () => {
      conv2dForward({ x, weight, bias, padding: PAD });
      conv2dBackward({ x, weight, gradY, padding: PAD });
    },
    reps ?? { minReps: 5, minSeconds: 4 }
  );
  const gpu = ctx.gpu ? gpuFigures(ctx.gpu, { x, weight, bias, gradY, padding: PAD }, flops, { fwdMs: fwd.minMs, fbMs: fb.minMs }, !!ctx.tiny) : null;
  if (gpu && gpu.fwd.value !== undefined)
    ctx.note(`${group}: the ${ctx.gpu!.backend} column times the kernels alone (best of ${gpu.fwd.details!.reps}, forward+backward = the sum of the two); the CPU rows time the JS call on host tensors`);
  const threads = `${ctx.threads} thread${ctx.threads === 1 ? '' : 's'}`;
  const out: BenchResult[] = [
    {
      group,
      name: `conv2d ${LAYER} forward, ${threads}`,
      metric: 'ms',
      value: fwd.minMs,
      cpu: fwd.cpuMs,
      ...(compare ? { reference: { value: TORCH_REFERENCE.forwardMs, label: TORCH_REFERENCE.label }, ratio: TORCH_REFERENCE.forwardMs / fwd.minMs } : {}),
      details: { medianMs: fwd.medianMs, cpuMs: fwd.cpuMs, reps: fwd.reps, gflops: flops / (fwd.minMs * 1e6) },
      ...(gpu ? { gpu: gpu.fwd } : {}),
    },
    {
      group,
      name: `conv2d ${LAYER} forward+backward, ${threads}`,
      metric: 'ms',
      value: fb.minMs,
      cpu: fb.cpuMs,
      ...(compare ? { reference: { value: TORCH_REFERENCE.forwardBackwardMs, label: TORCH_REFERENCE.label }, ratio: TORCH_REFERENCE.forwardBackwardMs / fb.minMs } : {}),
      details: { medianMs: fb.medianMs, cpuMs: fb.cpuMs, reps: fb.reps, gflops: (3 * flops) / (fb.minMs * 1e6) },
      ...(gpu ? { gpu: gpu.fb } : {}),
    },
  ];
  const torch = group === 'conv2d' && !ctx.tiny ? torchSideBySide(ctx.threads, ctx) : null;
  if (torch) {
    out.push(
      {
        group,
        name: `conv2d forward: ours vs PyTorch ${torch.torch} now`,
        metric: 'ms',
        value: fwd.minMs,
        reference: { value: torch.forward_ms, label: `PyTorch ${torch.torch}, same run, ${threads}` },
        ratio: torch.forward_ms / fwd.minMs,
      },
      {
        group,
        name: `conv2d forward+backward: ours vs PyTorch ${torch.torch} now`,
        metric: 'ms',
        value: fb.minMs,
        reference: { value: torch.forward_backward_ms, label: `PyTorch ${torch.torch}, same run, ${threads}` },
        ratio: torch.forward_backward_ms / fb.minMs,
      }
    );
  }
  return out;
}

export const conv2dGroups: BenchGroup[] = [
  {
    name: 'conv2d-1t',
    description: `conv2d ${LAYER} on one engine thread (per-core efficiency; details.gflops)`,
    threads: 1,
    run: (ctx) => run('conv2d-1t', ctx),
  },
  {
    name: 'conv2d',
    description: `conv2d ${LAYER}, forward and forward+backward, vs PyTorch (figures recorded with 2 threads); and on the GPU`,
    gpu: true,
    run: (ctx) => run('conv2d', ctx),
  },
];
