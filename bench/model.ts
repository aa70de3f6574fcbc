// The full-size detector on the CPU: hourglass104 (201M parameters) at
// 1x3x511x511, the reference's training input. Two measurements, each in its
// own child process so that their peak memory does not mix (and neither
// inherits the runner's heap):
//   eval   Model.forward (test mode, no gradients kept)
//   train  one training iteration of the engine's trainer at batch 1 (the
//          NativeTrainer the training loop uses): corner targets, forward in
//          train mode, the losses, backward, gradient clipping and the Adam
//          update, i.e. the seconds per iteration of the reference recipe at
//          batch 1
//   fwdbwd Model.forward in train mode, cornerTargets + cornerHeadLosses per
//          level, Model.backward: forward, losses and backward without any
//          optimizer state, the same work as the PyTorch reference's figure
// Peak memory is the child's VmHWM (the kernel's peak resident set size). It
// counts what glibc's allocator keeps after frees (below its dynamic mmap
// threshold, freed blocks stay mapped), so each measurement runs a second time,
// once, with MALLOC_MMAP_THRESHOLD_=65536: large blocks then go back to the
// kernel when freed and the peak follows live memory (the allocator setting a
// deployment can choose; its time shows what the extra page faults cost).
// The references are PyTorch 1.13 (oneDNN, 2 threads) on the project's
// 2-core machine running MMDetection's CornerNet.
//
// With a GPU backend (BenchContext.gpu) that has every kernel a measurement
// needs (native().modelOps), the eval, forward + losses + backward and training
// rows are measured again on it, in children of their own: milliseconds per
// image next to the CPU's, and the backend's peak device memory beside the
// peak RSS row. The MALLOC_MMAP_THRESHOLD_ rows (a host allocator setting) are
// CPU only.
//
// Run alone: node dist/bench/model.js [--preset hourglass104] [--size 511] [--reps 2] [--backend cpu]
// As a group of the bench runner: `modelGroups` (marked slow: about 2-3 minutes).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

import { modelPreset } from '../lib/configs';
import { Model, type HeadOutputs } from '../lib/model';
import { native } from '../lib/native';
import { cornerHeadLossesAsync, cornerTargetsAsync } from '../lib/ops';
import { missingFigure, missingOps, versusCpu, type GpuFigure, type GpuTarget } from './gpu';
import { filled, type BenchContext, type BenchGroup, type BenchResult } from './harness';
import { syntheticBatch, timeTrainerSteps } from './trainer_steps';

const GIB = 1024 ** 3;
const REFERENCE = {
  label: 'PyTorch 1.13 oneDNN, 2 threads',
  evalSeconds: 3.2,
  evalPeakGiB: 1.36,
  trainSeconds: 10.1,
  trainPeakGiB: 3.7,
};
type Kind = 'eval' | 'train' | 'fwdbwd';
const KINDS: readonly Kind[] = ['eval', 'train', 'fwdbwd'];

export interface ModelMeasurement {
  kind: Kind;
  preset: string;
  size: number;
  threads: number;
  /** The engine backend it ran on ('cpu' unless --backend). */
  backend: string;
  /** GPU backends: the device allocator's peak bytes in use (backendInfo().memory.peak). */
  devicePeakBytes?: number;
  /** Wall seconds of each timed call (after one warm-up call, which also allocates the weights). */
  seconds: number[];
  /** CPU seconds of the child (every thread) per timed call. */
  cpuSeconds: number;
  /** train: the trainer thread's own seconds per step (StepEvent.seconds). */
  stepSeconds?: number[];
  /** Peak resident set size of the child, bytes. */
  peakRssBytes: number;
  /** MALLOC_MMAP_THRESHOLD_ of the child, when set. */
  mmapThreshold?: string;
}

/** The kernel's peak RSS of this process (VmHWM); getrusage's maxrss where /proc is absent. */
function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux: fall through */
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** The backend's figures that every measurement records. */
function backendFacts(backend: string): { backend: string; devicePeakBytes?: number } {
  const peak = backend === 'cpu' ? undefined : native().backendInfo(backend).memory?.peak;
  return { backend, ...(peak !== undefined ? { devicePeakBytes: peak } : {}) };
}

async function measureEval(preset: string, size: number, reps: number, backend: string): Promise<ModelMeasurement> {
  const model = new Model(preset, { seed: 0, backend });
  const input = { data: filled(3 * size * size, 1), shape: [1, 3, size, size] };
  await model.forward(input);
  const seconds: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await model.forward(input);
    seconds.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    kind: 'eval', preset, size, threads: native().info().threads, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 / reps, peakRssBytes: peakRssBytes(),
    ...backendFacts(backend), ...mmapThreshold(),
  };
}

async function measureTrain(preset: string, size: number, reps: number, backend: string): Promise<ModelMeasurement> {
  const model = modelPreset(preset);
  // The reference recipe's optimizer: Adam, lr 5e-4, gradient clip 35; two boxes per image.
  const t = await timeTrainerSteps(
    { model, seed: 0, backend, adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 35 } },
    (iter) => ({ ...syntheticBatch(1, size, model.numClasses, 2, 7 + iter), lr: 5e-4 }),
    { warmup: 1, timed: reps, mode: 'one-by-one' }
  );
  if (!Number.isFinite(t.lastLoss)) throw new Error(`${preset}: the training loss is not finite (${t.lastLoss})`);
  return {
    kind: 'train', preset, size, threads: native().info().threads,
    seconds: t.wallSeconds, cpuSeconds: t.cpuSeconds, stepSeconds: t.stepSeconds, peakRssBytes: peakRssBytes(),
    ...backendFacts(backend), ...mmapThreshold(),
  };
}

/** Forward (train mode), targets and losses of every level, backward: no optimizer. */
async function measureFwdBwd(preset: string, size: number, reps: number, backend: string): Promise<ModelMeasurement> {
  const model = new Model(preset, { seed: 0, backend });
  const numClasses = modelPreset(preset).numClasses;
  const seconds: number[] = [];
  let cpu0 = process.cpuUsage();
  for (let i = 0; i < reps + 1; i++) {
    if (i === 1) cpu0 = process.cpuUsage();
    const b = syntheticBatch(1, size, numClasses, 2, 7 + i);
    const t0 = performance.now();
    const outs = await model.forward(b.images, { train: true });
    const feat = outs[0]!.tlHeat.shape;
    const targets = await cornerTargetsAsync({
      images: b.boxes.map((bx, j) => ({
        boxes: Array.from({ length: bx.length / 4 }, (_, k) => bx.subarray(4 * k, 4 * k + 4)),
        labels: Array.from(b.labels[j]!),
      })),
      numClasses,
      featureSize: [feat[2]!, feat[3]!],
      padSize: [size, size],
    });
    const grads: HeadOutputs[] = [];
    let loss = 0;
    for (const o of outs) {
      const r = await cornerHeadLossesAsync({ ...o, ...targets });
      loss += r.det + r.off + r.pull + r.push;
      grads.push({ tlHeat: r.gradTlHeat, brHeat: r.gradBrHeat, tlEmb: r.gradTlEmb, brEmb: r.gradBrEmb, tlOff: r.gradTlOff, brOff: r.gradBrOff });
    }
    if (!Number.isFinite(loss)) throw new Error(`${preset}: the loss is not finite (${loss})`);
    outs.length = 0;
    await model.backward(grads);
    if (i > 0) seconds.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    kind: 'fwdbwd', preset, size, threads: native().info().threads, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 / reps, peakRssBytes: peakRssBytes(),
    ...backendFacts(backend), ...mmapThreshold(),
  };
}

function mmapThreshold(): { mmapThreshold?: string } {
  const v = process.env.MALLOC_MMAP_THRESHOLD_;
  return v === undefined ? {} : { mmapThreshold: v };
}

/** Runs one measurement in a fresh Node process (this file with --child); `env` adds to this process's environment. */
export function measureInChild(kind: Kind, preset = 'hourglass104', size = 511, reps = 2, env: Record<string, string> = {}, backend = 'cpu'): ModelMeasurement {
  const args = ['--child', kind, '--preset', preset, '--size', String(size), '--reps', String(reps), '--backend', backend];
  const r = spawnSync(process.execPath, [__filename, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    timeout: 900_000,
  });
  if (r.status !== 0) {
    const why = r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status ?? r.signal}`);
    throw new Error(`${preset} ${kind}${backend === 'cpu' ? '' : ` on ${backend}`}: the measuring process failed: ${why}`);
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ModelMeasurement;
}

/** Compared with the reference: 'all' (hourglass104 at 511 on 2 threads), 'memory' (other thread counts), 'none'. */
type Compare = 'all' | 'memory' | 'none';

/** The GPU's measurement of the same kind (batch 1: seconds per image), or why there is none. */
type GpuMeasurement = { gpu: GpuTarget; m: ModelMeasurement } | { gpu: GpuTarget; missing: GpuFigure };

function gpuCells(g: GpuMeasurement | undefined, cpuBestSeconds: number, cpuPeakGiB: number): { time?: GpuFigure; memory?: GpuFigure } {
  if (!g) return {};
  if ('missing' in g) return { time: g.missing, memory: g.missing };
  const ms = Math.min(...g.m.seconds) * 1000;
  const rssGiB = g.m.peakRssBytes / GIB;
  return {
    time: { backend: g.gpu.backend, value: ms, metric: 'ms/img', compare: versusCpu(cpuBestSeconds * 1000, ms), details: { reps: g.m.seconds.length } },
    memory:
      g.m.devicePeakBytes !== undefined
        ? {
            backend: g.gpu.backend,
            value: g.m.devicePeakBytes / GIB,
            metric: 'GiB',
            compare: `device peak in use; host RSS ${rssGiB.toFixed(2)} GiB (CPU run ${cpuPeakGiB.toFixed(2)})`,
            details: { devicePeakBytes: g.m.devicePeakBytes, peakRssBytes: g.m.peakRssBytes },
          }
        : { backend: g.gpu.backend, value: rssGiB, metric: 'GiB', compare: 'host RSS of the GPU run (no device figures)' },
  };
}

function toResults(group: string, m: ModelMeasurement, compare: Compare, g?: GpuMeasurement): BenchResult[] {
  const best = Math.min(...m.seconds);
  const sorted = [...m.seconds].sort((a, b) => a - b);
  const label = REFERENCE.label;
  const refS = m.kind === 'eval' ? REFERENCE.evalSeconds : REFERENCE.trainSeconds;
  const refGiB = m.kind === 'eval' ? REFERENCE.evalPeakGiB : REFERENCE.trainPeakGiB;
  const short = { eval: 'eval forward', train: 'training iteration', fwdbwd: 'forward + losses + backward' }[m.kind];
  const alloc = m.mmapThreshold !== undefined ? `, MALLOC_MMAP_THRESHOLD_=${m.mmapThreshold}` : '';
  const what = {
    eval: `${m.preset} eval forward, 1x3x${m.size}x${m.size}${alloc}`,
    train: `${m.preset} training iteration, batch 1 at ${m.size} (Adam update included)${alloc}`,
    fwdbwd: `${m.preset} forward (train mode) + losses + backward, batch 1 at ${m.size}, no optimizer${alloc}`,
  }[m.kind];
  const peakGiB = m.peakRssBytes / GIB;
  const cells = gpuCells(g, best, peakGiB);
  return [
    {
      group,
      name: what,
      metric: 's',
      value: best,
      cpu: m.cpuSeconds,
      ...(compare === 'all' ? { reference: { value: refS, label }, ratio: refS / best } : {}),
      details: {
        reps: m.seconds.length,
        threads: m.threads,
        medianSeconds: sorted[sorted.length >> 1]!,
        cpuSeconds: m.cpuSeconds,
        ...(m.stepSeconds ? { trainerThreadSeconds: Math.min(...m.stepSeconds) } : {}),
      },
      ...(cells.time ? { gpu: cells.time } : {}),
    },
    {
      group,
      name: `${m.preset} ${short}: peak RSS (own process)${alloc}`,
      metric: 'GiB',
      value: peakGiB,
      ...(compare !== 'none' ? { reference: { value: refGiB, label }, ratio: refGiB / peakGiB } : {}),
      details: { peakRssBytes: m.peakRssBytes },
      ...(cells.memory ? { gpu: cells.memory } : {}),
    },
  ];
}

/**
 * The same measurement on the GPU, when it has every kernel the work needs
 * (eval: modelOps('test'); training and forward + backward: modelOps('train')).
 * A failed GPU measurement is a cell that says so, not a failed group.
 */
function measureOnGpu(gpu: GpuTarget | null | undefined, kind: Kind, s: Sizes): GpuMeasurement | undefined {
  if (!gpu) return undefined;
  const missing = missingOps(gpu, native().modelOps(kind === 'eval' ? 'test' : 'train'));
  if (missing.length) return { gpu, missing: missingFigure(gpu, missing) };
  try {
    return { gpu, m: measureInChild(kind, s.preset, s.size, s.reps, {}, gpu.backend) };
  } catch (e) {
    return { gpu, missing: { backend: gpu.backend, missing: `failed: ${e instanceof Error ? e.message : String(e)}` } };
  }
}

interface Sizes {
  preset: string;
  size: number;
  reps: number;
}

async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const group = 'model';
  if (ctx.tiny) return runTiny(ctx);
  // The reference ran on 2 threads: a time is compared only at the same count.
  const compare: Compare = ctx.threads === 2 ? 'all' : 'memory';
  if (compare !== 'all') ctx.note(`model: ${ctx.threads} engine threads, the PyTorch times were taken with 2: times not compared`);
  ctx.note(
    'model: best of 2 timed calls after 1 warm-up (1 timed call for the MALLOC_MMAP_THRESHOLD_ rows), each measurement in its own process ' +
      '(peak RSS = its VmHWM); the training iteration at batch 1 includes the Adam update (weights, gradients and 2 moments: ~3 GiB before activations), ' +
        'forward + losses + backward has no optimizer state (the work the PyTorch training figure covers)'
  );
  const lean = { MALLOC_MMAP_THRESHOLD_: '65536' };
  // The CPU's measurements first, each followed by the GPU's (their processes never overlap).
  const full: Sizes = { preset: 'hourglass104', size: 511, reps: 2 };
  const both = (kind: Kind) => {
    const cpu = measureInChild(kind);
    return toResults(group, cpu, compare, measureOnGpu(ctx.gpu, kind, full));
  };
  if (ctx.gpu && !missingOps(ctx.gpu, native().modelOps('test')).length)
    ctx.note(`model: ${ctx.gpu.backend} rows: the same measurements on that backend in their own processes (ms per image at batch 1; its peak device memory beside the peak RSS)`);
  return [
    ...both('eval'),
    ...both('fwdbwd'),
    ...both('train'),
    ...toResults(group, measureInChild('eval', 'hourglass104', 511, 1, lean), compare),
    ...toResults(group, measureInChild('train', 'hourglass104', 511, 1, lean), compare),
  ];
}

/** --tiny (tests): the three measurements of shapes-tiny at 128, 1 timed call each, no allocator rows, nothing compared. */
function runTiny(ctx: BenchContext): BenchResult[] {
  const tiny: Sizes = { preset: 'shapes-tiny', size: 128, reps: 1 };
  ctx.note('model: --tiny: shapes-tiny at 128, 1 timed call after 1 warm-up');
  return KINDS.flatMap((kind) =>
    toResults('model', measureInChild(kind, tiny.preset, tiny.size, tiny.reps), 'none', measureOnGpu(ctx.gpu, kind, tiny))
  );
}

export const modelGroups: BenchGroup[] = [
  {
    name: 'model',
    description: 'hourglass104 at 1x3x511x511 on the CPU (and the GPU): eval forward and one training iteration (batch 1), seconds and peak RSS vs PyTorch',
    slow: true,
    gpu: true,
    run,
  },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      preset: { type: 'string', default: 'hourglass104' },
      size: { type: 'string', default: '511' },
      reps: { type: 'string', default: '2' },
      backend: { type: 'string', default: 'cpu' },
    },
    strict: true,
  });
  const size = Number(values.size);
  const reps = Number(values.reps);
  if (!Number.isInteger(size) || size < 1) throw new Error(`--size must be a positive integer, got ${values.size}`);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${values.reps}`);
  const child = values.child as Kind | undefined;
  if (child !== undefined && KINDS.includes(child)) {
    const measure = { eval: measureEval, train: measureTrain, fwdbwd: measureFwdBwd }[child];
    const m = await measure(values.preset, size, reps, values.backend);
    process.stdout.write(`${JSON.stringify(m)}\n`);
    return;
  }
  if (values.child !== undefined) throw new Error(`--child must be one of ${KINDS.join(', ')}, got ${values.child}`);
  const reference = values.preset === 'hourglass104' && size === 511;
  const compare: Compare = !reference ? 'none' : native().info().threads === 2 ? 'all' : 'memory';
  for (const kind of KINDS) {
    for (const r of toResults('model', measureInChild(kind, values.preset, size, reps, {}, values.backend), values.backend === 'cpu' ? compare : 'none')) {
      const ref = r.reference ? `   reference ${r.reference.value} ${r.metric} (${r.reference.label}), ratio ${r.ratio!.toFixed(2)}` : '';
      const cpu = r.cpu !== undefined ? `, ${r.cpu.toFixed(2)} s CPU` : '';
      console.log(`${r.name}: ${r.value.toFixed(3)} ${r.metric}${cpu}${ref}`);
    }
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  });
}
