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
// Peak memory is the child's VmHWM (the kernel's peak resident set size); each
// measurement also counts the minor page faults per timed call (getrusage) and
// the host blocks the engine's host pool asked of the system per call
// (native/engine/caching_allocator.h: zero once the shapes repeat). Eval and
// forward + losses + backward run a second time, once, with
// CORNERNET_HOST_CACHE_MB=0 (the host pool caches nothing: every tensor's pages
// are fresh), which shows in the same run what the cache saves.
// The reference is PyTorch (bench/pytorch_cornernet.py: the same model with
// MMDetection's semantics) measured the same way in its own processes in the
// same run: eval and forward + losses + backward; medians of the timed calls
// on both sides. Without torch here, the figures recorded in
// pytorch_reference.json stand in, and the rows say so.
//
// With a GPU backend (BenchContext.gpu) that has every kernel a measurement
// needs (native().modelOps), the eval, forward + losses + backward and training
// rows are measured again on it, in children of their own: milliseconds per
// image next to the CPU's, and the backend's peak device memory beside the
// peak RSS row. The CORNERNET_HOST_CACHE_MB=0 rows (a host allocator setting)
// are CPU only.
//
// Run alone: node dist/bench/model.js [--preset hourglass104] [--size 511] [--reps 2] [--backend cpu]
// As a group of the bench runner: `modelGroups` (marked slow: about 5 minutes
// with PyTorch). bench/train.ts measures its small models' training steps with
// the same children (--batch, --config).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

import { modelPreset, type ModelConfig } from '../lib/configs';
import { Model, type HeadOutputs } from '../lib/model';
import { native } from '../lib/native';
import { cornerHeadLossesAsync, cornerTargetsAsync } from '../lib/ops';
import { missingFigure, missingOps, versusCpu, type GpuFigure, type GpuTarget } from './gpu';
import { filled, type BenchContext, type BenchGroup, type BenchResult } from './harness';
import { median, torchLabel, torchModel, type TorchFigure } from './pytorch';
import { syntheticBatch, timeTrainerSteps } from './trainer_steps';

const GIB = 1024 ** 3;
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
  /** Minor page faults of the child per timed call (every thread; getrusage). */
  minorFaultsPerCall: number;
  /** Blocks the host pool asked of the system per timed call (backendInfo('cpu').memory.mallocs). */
  hostMallocsPerCall: number;
  /** Images per call. */
  batch: number;
  /** CORNERNET_HOST_CACHE_MB of the child, when set. */
  hostCacheMb?: string;
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

/** Minor page faults of this process so far and the blocks the host pool asked of the system. */
function faultCounters(): { faults: number; hostMallocs: number } {
  return { faults: process.resourceUsage().minorPageFault, hostMallocs: native().backendInfo('cpu').memory.mallocs };
}

/** Per-call page faults and host blocks since `c0`, for `calls` calls. */
function perCall(c0: { faults: number; hostMallocs: number }, calls: number): { minorFaultsPerCall: number; hostMallocsPerCall: number } {
  const c = faultCounters();
  return { minorFaultsPerCall: (c.faults - c0.faults) / calls, hostMallocsPerCall: (c.hostMallocs - c0.hostMallocs) / calls };
}

/** What a child measures: a preset by name, or a config given as JSON (--config), at `batch` images of size x size. */
interface Work {
  preset: string;
  model: ModelConfig;
  size: number;
  batch: number;
  reps: number;
  backend: string;
}

async function measureEval(w: Work): Promise<ModelMeasurement> {
  const { size, batch, reps, backend } = w;
  const model = new Model(w.model, { seed: 0, backend });
  const input = { data: filled(batch * 3 * size * size, 1), shape: [batch, 3, size, size] };
  await model.forward(input);
  const seconds: number[] = [];
  const c0 = faultCounters();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await model.forward(input);
    seconds.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    kind: 'eval', preset: w.preset, size, batch, threads: native().info().threads, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 / reps,
    ...perCall(c0, reps), peakRssBytes: peakRssBytes(), ...backendFacts(backend), ...hostCacheMb(),
  };
}

async function measureTrain(w: Work): Promise<ModelMeasurement> {
  const { model, size, batch, reps, backend } = w;
  // The reference recipe's optimizer: Adam, lr 5e-4, gradient clip 35; two
  // boxes per image at batch 1 (hourglass104), three for the small models' batches.
  const boxes = batch === 1 ? 2 : 3;
  let c0 = faultCounters();
  const t = await timeTrainerSteps(
    { model, seed: 0, backend, adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 35 } },
    (iter) => ({ ...syntheticBatch(batch, size, model.numClasses, boxes, 7 + iter), lr: 5e-4 }),
    { warmup: batch === 1 ? 1 : 2, timed: reps, mode: 'one-by-one', onTimed: () => (c0 = faultCounters()) }
  );
  if (!Number.isFinite(t.lastLoss)) throw new Error(`${w.preset}: the training loss is not finite (${t.lastLoss})`);
  return {
    kind: 'train', preset: w.preset, size, batch, threads: native().info().threads,
    seconds: t.wallSeconds, cpuSeconds: t.cpuSeconds, stepSeconds: t.stepSeconds, ...perCall(c0, reps), peakRssBytes: peakRssBytes(),
    ...backendFacts(backend), ...hostCacheMb(),
  };
}

/** Forward (train mode), targets and losses of every level, backward: no optimizer. */
async function measureFwdBwd(w: Work): Promise<ModelMeasurement> {
  const { size, batch, reps, backend } = w;
  const model = new Model(w.model, { seed: 0, backend });
  const numClasses = w.model.numClasses;
  const seconds: number[] = [];
  let cpu0 = process.cpuUsage();
  let c0 = faultCounters();
  for (let i = 0; i < reps + 1; i++) {
    if (i === 1) {
      cpu0 = process.cpuUsage();
      c0 = faultCounters();
    }
    const b = syntheticBatch(batch, size, numClasses, 2, 7 + i);
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
    if (!Number.isFinite(loss)) throw new Error(`${w.preset}: the loss is not finite (${loss})`);
    outs.length = 0;
    await model.backward(grads);
    if (i > 0) seconds.push((performance.now() - t0) / 1000);
  }
  const faults = perCall(c0, reps);
  const cpu = process.cpuUsage(cpu0);
  return {
    kind: 'fwdbwd', preset: w.preset, size, batch, threads: native().info().threads, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 / reps,
    ...faults, peakRssBytes: peakRssBytes(), ...backendFacts(backend), ...hostCacheMb(),
  };
}

function hostCacheMb(): { hostCacheMb?: string } {
  const v = process.env.CORNERNET_HOST_CACHE_MB;
  return v === undefined ? {} : { hostCacheMb: v };
}

/** A measurement's options beyond the preset: batch, a config instead of the preset's (named `preset` in the rows), extra environment, backend. */
export interface ChildOptions {
  batch?: number;
  config?: ModelConfig;
  env?: Record<string, string>;
  backend?: string;
}

/** Runs one measurement in a fresh Node process (this file with --child); `o.env` adds to this process's environment. */
export function measureInChild(kind: Kind, preset = 'hourglass104', size = 511, reps = 2, o: ChildOptions = {}): ModelMeasurement {
  const backend = o.backend ?? 'cpu';
  const env = o.env ?? {};
  const args = ['--child', kind, '--preset', preset, '--size', String(size), '--reps', String(reps), '--backend', backend, '--batch', String(o.batch ?? 1)];
  if (o.config) args.push('--config', JSON.stringify(o.config));
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

/** The GPU's measurement of the same kind (batch 1: seconds per image), or why there is none. */
type GpuMeasurement = { gpu: GpuTarget; m: ModelMeasurement } | { gpu: GpuTarget; missing: GpuFigure };

function gpuCells(g: GpuMeasurement | undefined, cpuBestSeconds: number, cpuPeakGiB: number, cpuFaults: number): { time?: GpuFigure; memory?: GpuFigure; faults?: GpuFigure } {
  if (!g) return {};
  if ('missing' in g) return { time: g.missing, memory: g.missing, faults: g.missing };
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
    faults: { backend: g.gpu.backend, value: g.m.minorFaultsPerCall, metric: 'faults', compare: `host page faults of the GPU run (CPU run ${Math.round(cpuFaults)})` },
  };
}

/** Which of our measurements PyTorch measured too. */
const TORCH_KINDS: readonly Kind[] = ['eval', 'fwdbwd'];

/** The time row and peak RSS row of a measurement, and its page faults; compared with PyTorch's figure when given. */
export function toResults(group: string, m: ModelMeasurement, torch: TorchFigure | null, g?: GpuMeasurement): BenchResult[] {
  const mid = median(m.seconds);
  const short = { eval: 'eval forward', train: 'training iteration', fwdbwd: 'forward + losses + backward' }[m.kind];
  const alloc = m.hostCacheMb !== undefined ? `, CORNERNET_HOST_CACHE_MB=${m.hostCacheMb}` : '';
  const what = {
    eval: `${m.preset} eval forward, ${m.batch}x3x${m.size}x${m.size}${alloc}`,
    train: `${m.preset} training iteration, batch ${m.batch} at ${m.size} (Adam update included)${alloc}`,
    fwdbwd: `${m.preset} forward (train mode) + losses + backward, batch ${m.batch} at ${m.size}, no optimizer${alloc}`,
  }[m.kind];
  const peakGiB = m.peakRssBytes / GIB;
  const cells = gpuCells(g, Math.min(...m.seconds), peakGiB, m.minorFaultsPerCall);
  const label = torch ? torchLabel(torch) : '';
  const torchMid = torch ? median(torch.seconds) : 0;
  return [
    {
      group,
      name: what,
      metric: 's',
      value: mid,
      cpu: m.cpuSeconds,
      ...(torch ? { reference: { value: torchMid, label: `${label} (CPU ${torch.cpuSeconds.toFixed(2)} s)` }, ratio: torchMid / mid } : {}),
      details: {
        reps: m.seconds.length,
        threads: m.threads,
        minSeconds: Math.min(...m.seconds),
        cpuSeconds: m.cpuSeconds,
        ...(m.stepSeconds ? { trainerThreadSeconds: median(m.stepSeconds) } : {}),
        ...(torch ? { torchSeconds: torchMid, torchCpuSeconds: torch.cpuSeconds, torchCpuRatio: torch.cpuSeconds / m.cpuSeconds } : {}),
      },
      ...(cells.time ? { gpu: cells.time } : {}),
    },
    {
      group,
      name: `${m.preset} ${short}: peak RSS (own process)${alloc}`,
      metric: 'GiB',
      value: peakGiB,
      ...(torch ? { reference: { value: torch.peakRssBytes / GIB, label }, ratio: torch.peakRssBytes / m.peakRssBytes } : {}),
      details: { peakRssBytes: m.peakRssBytes },
      ...(cells.memory ? { gpu: cells.memory } : {}),
    },
    {
      group,
      name: `${m.preset} ${short}: minor page faults per call${alloc}`,
      metric: 'faults',
      value: m.minorFaultsPerCall,
      ...(torch ? { reference: { value: torch.minorFaultsPerCall, label } } : {}),
      details: { hostMallocsPerCall: m.hostMallocsPerCall },
      ...(cells.faults ? { gpu: cells.faults } : {}),
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
    return { gpu, m: measureInChild(kind, s.preset, s.size, s.reps, { backend: gpu.backend }) };
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
  ctx.note(
    'model: medians of 2 timed calls after 1 warm-up (1 timed call for the CORNERNET_HOST_CACHE_MB=0 rows), each measurement in its own process ' +
      '(peak RSS = its VmHWM; page faults: getrusage minor faults per timed call), PyTorch (bench/pytorch_cornernet.py) the same way in its own processes; ' +
      'the training iteration at batch 1 includes the Adam update (weights, gradients and 2 moments: ~3 GiB before activations) and has no PyTorch figure, ' +
      'forward + losses + backward has no optimizer state on either side'
  );
  // The CPU's measurements first, each followed by the GPU's (their processes never overlap), then PyTorch's.
  const full: Sizes = { preset: 'hourglass104', size: 511, reps: 2 };
  const hg104 = modelPreset('hourglass104');
  const both = (kind: Kind) => {
    const cpu = measureInChild(kind);
    const gpu = measureOnGpu(ctx.gpu, kind, full);
    const torch = TORCH_KINDS.includes(kind)
      ? torchModel(ctx, group, `hourglass104-${kind}`, kind, hg104, { size: 511, batch: 1, warmup: 1, reps: 2 })
      : null;
    return toResults(group, cpu, torch, gpu);
  };
  if (ctx.gpu && !missingOps(ctx.gpu, native().modelOps('test')).length)
    ctx.note(`model: ${ctx.gpu.backend} rows: the same measurements on that backend in their own processes (ms per image at batch 1; its peak device memory beside the peak RSS)`);
  const uncached = { env: { CORNERNET_HOST_CACHE_MB: '0' } };
  return [
    ...both('eval'),
    ...both('fwdbwd'),
    ...both('train'),
    ...toResults(group, measureInChild('eval', 'hourglass104', 511, 1, uncached), null),
    ...toResults(group, measureInChild('fwdbwd', 'hourglass104', 511, 1, uncached), null),
  ];
}

/** --tiny (tests): the three measurements of shapes-tiny at 128, 1 timed call each, no allocator rows, nothing compared. */
function runTiny(ctx: BenchContext): BenchResult[] {
  const tiny: Sizes = { preset: 'shapes-tiny', size: 128, reps: 1 };
  ctx.note('model: --tiny: shapes-tiny at 128, 1 timed call after 1 warm-up');
  return KINDS.flatMap((kind) =>
    toResults('model', measureInChild(kind, tiny.preset, tiny.size, tiny.reps), null, measureOnGpu(ctx.gpu, kind, tiny))
  );
}

export const modelGroups: BenchGroup[] = [
  {
    name: 'model',
    description: 'hourglass104 at 1x3x511x511 on the CPU (and the GPU): eval forward, forward + losses + backward and one training iteration (batch 1): seconds, peak RSS and page faults vs PyTorch in the same run',
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
      config: { type: 'string' },
      size: { type: 'string', default: '511' },
      batch: { type: 'string', default: '1' },
      reps: { type: 'string', default: '2' },
      backend: { type: 'string', default: 'cpu' },
    },
    strict: true,
  });
  const size = Number(values.size);
  const reps = Number(values.reps);
  const batch = Number(values.batch);
  if (!Number.isInteger(size) || size < 1) throw new Error(`--size must be a positive integer, got ${values.size}`);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got ${values.reps}`);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch must be a positive integer, got ${values.batch}`);
  const child = values.child as Kind | undefined;
  if (child !== undefined && KINDS.includes(child)) {
    const measure = { eval: measureEval, train: measureTrain, fwdbwd: measureFwdBwd }[child];
    const model = values.config ? (JSON.parse(values.config) as ModelConfig) : modelPreset(values.preset);
    const m = await measure({ preset: values.preset, model, size, batch, reps, backend: values.backend });
    process.stdout.write(`${JSON.stringify(m)}\n`);
    return;
  }
  if (values.child !== undefined) throw new Error(`--child must be one of ${KINDS.join(', ')}, got ${values.child}`);
  for (const kind of KINDS) {
    for (const r of toResults('model', measureInChild(kind, values.preset, size, reps, { backend: values.backend, batch }), null)) {
      const cpu = r.cpu !== undefined ? `, ${r.cpu.toFixed(2)} s CPU` : '';
      console.log(`${r.name}: ${r.value.toFixed(3)} ${r.metric}${cpu}`);
    }
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  });
}
