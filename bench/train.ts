// Training throughput of the default job, `shapes-tiny` (128x128, at the
// recipe's batch size, read from lib/train/recipes.ts):
//   steps   the engine's trainer alone on synthetic in-memory batches, steps
//           queued as the training loop queues them: pure step speed
//   loop    `cornernet train` itself (lib/train/loop.ts train()) for a few
//           iterations on a small synthetic shapes dataset in a temporary
//           cache: images/s inside the steps and the share of step time the
//           trainer waited for data (both from its TrainResult)
// and the trainer on a model shaped like the one PyTorch was first timed with on
// this machine (1-stack hourglass, 3 halvings, channels 32-64, the reference
// head widths 128/256, 3 classes, 128x128, batch 8). Both small models are also
// trained side by side with PyTorch (bench/pytorch_cornernet.py, the same
// model, losses, gradient clipping and Adam), each side in its own process
// (bench/model.ts's children: steps one by one, peak RSS and page faults of
// that process alone): medians of 6 steps after 2 warm-up steps.
// Seconds per iteration of hourglass104 (batch 1, 511x511) are the `model`
// group's training row.
//
// With a GPU backend (BenchContext.gpu) that has every kernel training needs
// (native().modelOps('train')), the same three are run on it after the CPU's:
// milliseconds per image next to the CPU's. The CPU's loop row runs with
// --device cpu (the recipe's default, auto, would take the GPU).
//
// Run alone: node dist/bench/train.js; as a group of the bench runner: `trainGroups` (slow).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';

import { modelPreset, type ModelConfig } from '../lib/configs';
import { ensureSynthDataset } from '../lib/data/synth_cache';
import { native } from '../lib/native';
import { train } from '../lib/train/loop';
import { recipes } from '../lib/train/recipes';
import { missingFigure, missingOps, versusCpu, type GpuFigure } from './gpu';
import type { BenchContext, BenchGroup, BenchResult } from './harness';
import { measureInChild, toResults } from './model';
import { median, torchLabel, torchModel, type TorchFigure } from './pytorch';
import { syntheticBatch, timeTrainerSteps } from './trainer_steps';

const GROUP = 'train';
const SIZE = 128;
/** The PyTorch-shaped model's batch. */
const PYTORCH = { batch: 8 };
/** Side by side with PyTorch: timed steps after the warm-up ones, each side in its own process. */
const SIDE_BY_SIDE = { warmup: 2, reps: 6 };
const LOOP_ITERS = 20;
const STEPS = 12;

/** Timed trainer steps and loop iterations: the group's, or (--tiny, tests) 2 of each. */
const counts = (ctx: BenchContext) => (ctx.tiny ? { steps: 2, loop: 2 } : { steps: STEPS, loop: LOOP_ITERS });

interface RecipeFacts {
  batchSize: number;
  adam: { beta1: number; beta2: number; eps: number; weightDecay: number; gradClip: number | null };
}

/** The shapes-tiny recipe's batch size and optimizer, as the loop passes them to the trainer. */
function recipe(): RecipeFacts {
  const r = recipes['shapes-tiny']!();
  const o = r.optimizer as { betas: [number, number]; eps: number; weightDecay: number; gradClip: number | null };
  const t = r.train as { batchSize: number; replicas: number };
  return {
    batchSize: t.batchSize * t.replicas,
    adam: { beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip },
  };
}

/** Images/s of queued trainer steps on in-memory batches of `batch` images in all (4 distinct batches, reused), split over `replicas`. */
async function stepThroughput(model: ModelConfig, batch: number, timed: number, backend = 'cpu', replicas = 1) {
  const batches = [0, 1, 2, 3].map((k) => syntheticBatch(batch, SIZE, model.numClasses, 3, 11 + k));
  let faults0 = 0;
  const t = await timeTrainerSteps({ model, seed: 0, backend, adam: recipe().adam, replicas }, (iter) => batches[iter % 4]!, {
    warmup: 2, timed, mode: 'queued', onTimed: () => (faults0 = process.resourceUsage().minorPageFault),
  });
  const faultsPerStep = (process.resourceUsage().minorPageFault - faults0) / timed;
  if (!Number.isFinite(t.lastLoss)) throw new Error(`the training loss is not finite (${t.lastLoss})`);
  const wall = t.wallSeconds[0]!;
  return { imagesPerSecond: (timed * batch) / wall, cpuSecondsPerImage: t.cpuSeconds / batch, secondsPerStep: wall / timed, trainerSecondsPerStep: Math.min(...t.stepSeconds), faultsPerStep };
}

class Discard extends Writable {
  override _write(_c: Buffer, _e: string, cb: () => void) {
    cb();
  }
}

/** `cornernet train --config shapes-tiny --max-iters 20` on 20 batches of synthetic train images (no val split: no evaluation). */
async function loopThroughput(batch: number, device = 'cpu', iters = LOOP_ITERS) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cornernet-bench-train-'));
  try {
    const synth = { train: iters * batch, val: 0, size: SIZE, seed: 0 };
    const cacheRoot = path.join(root, 'cache');
    // Generated before the clock starts: the figure is about training, not about making the dataset.
    await ensureSynthDataset(synth, { root: cacheRoot });
    const set = [`data.synth.train=${synth.train}`, 'data.synth.val=0', `data.synth.size=${SIZE}`];
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await train({
      config: 'shapes-tiny', workDir: path.join(root, 'work'), cacheRoot, maxIters: iters, set, device,
      progressStream: new Discard(), tty: false, log: () => {},
    });
    const c = process.cpuUsage(c0);
    const wall = (performance.now() - t0) / 1000;
    if (r.iterations !== iters) throw new Error(`the loop ran ${r.iterations} iterations, not ${iters} (${r.stopped})`);
    const used = r.config.train.batchSize * r.config.train.replicas;
    if (used !== batch) throw new Error(`the loop trained batches of ${used}, the recipe says ${batch}`);
    return { ...r, wall, cpu: (c.user + c.system) / 1e6, images: r.iterations * batch, batch, workers: r.config.data.workers };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** One small model trained by the engine and by PyTorch, each in its own process: step time, peak RSS, page faults per step. */
function sideBySide(ctx: BenchContext, name: string, model: ModelConfig, batch: number): { rows: BenchResult[]; torch: TorchFigure | null } {
  const ours = measureInChild('train', name, SIZE, SIDE_BY_SIDE.reps, { batch, config: model });
  const torch = torchModel(ctx, GROUP, `${name}-train`, 'train', model, { size: SIZE, batch, ...SIDE_BY_SIDE });
  return { rows: toResults(GROUP, ours, torch), torch };
}

export async function runTrainBench(ctx: BenchContext): Promise<BenchResult[]> {
  const tiny = modelPreset('shapes-tiny');
  const batch = recipe().batchSize;
  const n = counts(ctx);
  const steps = await stepThroughput(tiny, batch, n.steps);
  // Shaped like the PyTorch model: shapes-tiny's stages (3 halvings, 32..64 channels) with the reference head widths.
  const torchLike: ModelConfig = { ...tiny, numClasses: 3, poolFeatChannels: 128, headFeatChannels: 256 };
  const like = await stepThroughput(torchLike, PYTORCH.batch, n.steps);
  // The same images per step as 2 CPU replicas of half the batch, side by side (each its own BN statistics).
  const likeSplit = ctx.tiny || ctx.threads < 2 ? null : await stepThroughput(torchLike, PYTORCH.batch, n.steps, 'cpu', 2);
  const loop = await loopThroughput(batch, 'cpu', n.loop);
  const gpu = ctx.gpu ? await onGpu(ctx, tiny, torchLike, batch, { steps, like, loop }) : null;
  const tinyVs = ctx.tiny ? null : sideBySide(ctx, 'shapes-tiny', tiny, batch);
  const likeVs = ctx.tiny ? null : sideBySide(ctx, 'torch-shaped', torchLike, PYTORCH.batch);
  ctx.note(
    `train: shapes-tiny has head widths 32 (pool and branches); the "PyTorch-shaped" (torch-shaped) model has the reference widths 128/256 and 3 classes at batch ${PYTORCH.batch} ` +
      `(stage widths ${torchLike.stageChannels.join('/')}, blocks ${torchLike.stageBlocks.join('/')}); the side-by-side rows (seconds per step) train both with the engine and with PyTorch, ` +
      `${SIDE_BY_SIDE.reps} steps one by one after ${SIDE_BY_SIDE.warmup}, medians, each side in its own process`
  );
  ctx.note(
    `train: CPU seconds per image (all threads) ${steps.cpuSecondsPerImage.toFixed(4)} for shapes-tiny, ${like.cpuSecondsPerImage.toFixed(4)} for the PyTorch-shaped model: ` +
      `with ${ctx.threads} idle cores, at most ${ctx.threads} / that images/s (${(ctx.threads / steps.cpuSecondsPerImage).toFixed(1)} and ${(ctx.threads / like.cpuSecondsPerImage).toFixed(1)})`
  );
  ctx.note(`train: the loop row is ${loop.iterations} iterations of ${loop.batch} from JPEGs with ${loop.workers} decode workers, the first step included; trainer rows: ${n.steps} queued steps after 2 warm-up steps`);
  const likeTorch = likeVs?.torch;
  const torchIps = likeTorch ? PYTORCH.batch / median(likeTorch.seconds) : 0;
  const torchRef = likeTorch ? { reference: { value: torchIps, label: `${torchLabel(likeTorch)}, steps one by one` }, ratio: like.imagesPerSecond / torchIps } : {};
  return [
    {
      group: GROUP,
      name: `shapes-tiny trainer steps, ${SIZE}x${SIZE} batch ${batch}, in-memory batches (heads 32)`,
      metric: 'images/s',
      value: steps.imagesPerSecond,
      details: { secondsPerStep: steps.secondsPerStep, trainerSecondsPerStep: steps.trainerSecondsPerStep, cpuSecondsPerImage: steps.cpuSecondsPerImage, minorFaultsPerStep: steps.faultsPerStep },
      ...(gpu ? { gpu: gpu.steps } : {}),
    },
    {
      group: GROUP,
      name: `PyTorch-shaped 1-stack hg (heads 128/256, 3 classes) trainer steps, ${SIZE}x${SIZE} batch ${PYTORCH.batch}`,
      metric: 'images/s',
      value: like.imagesPerSecond,
      ...torchRef,
      details: { secondsPerStep: like.secondsPerStep, trainerSecondsPerStep: like.trainerSecondsPerStep, cpuSecondsPerImage: like.cpuSecondsPerImage, minorFaultsPerStep: like.faultsPerStep },
      ...(gpu ? { gpu: gpu.like } : {}),
    },
    ...(likeSplit
      ? [{
          group: GROUP,
          name: `PyTorch-shaped trainer steps, ${PYTORCH.batch} images as 2 CPU replicas x ${PYTORCH.batch / 2} (BN per replica)`,
          metric: 'images/s',
          value: likeSplit.imagesPerSecond,
          ...(likeTorch ? { reference: { value: torchIps, label: `${torchLabel(likeTorch)}, one batch of ${PYTORCH.batch}` }, ratio: likeSplit.imagesPerSecond / torchIps } : {}),
          details: { secondsPerStep: likeSplit.secondsPerStep, cpuSecondsPerImage: likeSplit.cpuSecondsPerImage, minorFaultsPerStep: likeSplit.faultsPerStep },
        }]
      : []),
    {
      group: GROUP,
      name: `shapes-tiny training loop (cornernet train, ${loop.iterations} iters), images/s in steps`,
      metric: 'images/s',
      value: loop.imagesPerSecond,
      details: { wallSeconds: loop.wall, cpuSeconds: loop.cpu, endToEndImagesPerSecond: loop.images / loop.wall },
      ...(gpu ? { gpu: gpu.loop } : {}),
    },
    ...(tinyVs?.rows ?? []),
    ...(likeVs?.rows ?? []),
    {
      group: GROUP, name: 'shapes-tiny training loop: share of step time waiting for data', metric: '%', value: 100 * loop.dataWait,
      ...(gpu ? { gpu: gpu.wait } : {}),
    },
    {
      group: GROUP,
      name: 'shapes-tiny training loop end to end (load, steps, checkpoint, report)',
      metric: 's',
      value: loop.wall,
      cpu: loop.cpu,
      details: { images: loop.images, imagesPerSecond: loop.images / loop.wall },
      ...(gpu ? { gpu: gpu.endToEnd } : {}),
    },
  ];
}

type Loop = Awaited<ReturnType<typeof loopThroughput>>;
type Steps = Awaited<ReturnType<typeof stepThroughput>>;

/** The trainer rows and the loop again on the GPU, as cells of the CPU's rows; or why not (no kernel, a failure). */
async function onGpu(ctx: BenchContext, tiny: ModelConfig, torchLike: ModelConfig, batch: number, cpu: { steps: Steps; like: Steps; loop: Loop }) {
  const gpu = ctx.gpu!;
  const missing = missingOps(gpu, native().modelOps('train'));
  const why = (f: GpuFigure) => ({ steps: f, like: f, loop: f, wait: f, endToEnd: f });
  if (missing.length) return why(missingFigure(gpu, missing));
  try {
    const n = counts(ctx);
    const steps = await stepThroughput(tiny, batch, n.steps, gpu.backend);
    const like = await stepThroughput(torchLike, PYTORCH.batch, n.steps, gpu.backend);
    const loop = await loopThroughput(batch, gpu.backend, n.loop);
    const perImage = (ips: number, cpuIps: number): GpuFigure => ({
      backend: gpu.backend, value: 1000 / ips, metric: 'ms/img', compare: versusCpu(1000 / cpuIps, 1000 / ips), details: { imagesPerSecond: ips },
    });
    ctx.note(`train: ${gpu.backend} rows: the same trainer steps and loop (--device ${gpu.backend}) after the CPU's, as ms per image`);
    return {
      steps: perImage(steps.imagesPerSecond, cpu.steps.imagesPerSecond),
      like: perImage(like.imagesPerSecond, cpu.like.imagesPerSecond),
      loop: perImage(loop.imagesPerSecond, cpu.loop.imagesPerSecond),
      wait: { backend: gpu.backend, value: 100 * loop.dataWait, metric: '%', compare: `CPU ${(100 * cpu.loop.dataWait).toFixed(1)} %` },
      endToEnd: { backend: gpu.backend, value: loop.wall, metric: 's', compare: versusCpu(cpu.loop.wall, loop.wall, 's') },
    };
  } catch (e) {
    return why({ backend: gpu.backend, missing: `failed: ${e instanceof Error ? e.message : String(e)}` });
  }
}

export const trainGroups: BenchGroup[] = [
  {
    name: 'train',
    description: "shapes-tiny training throughput (128x128, the recipe's batch): trainer steps alone, and the training loop with its data wait share",
    slow: true,
    gpu: true,
    run: runTrainBench,
  },
];

if (require.main === module) {
  const notes: string[] = [];
  runTrainBench({ threads: native().info().threads, note: (l) => notes.push(l) }).then(
    (rows) => {
      for (const r of rows) {
        const ref = r.reference ? `   reference ${r.reference.value} ${r.metric} (${r.reference.label}), ratio ${r.ratio!.toFixed(2)}` : '';
        console.log(`${r.name}: ${r.value.toFixed(2)} ${r.metric}${ref}`);
      }
      for (const n of notes) console.log(`note: ${n}`);
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    }
  );
}
