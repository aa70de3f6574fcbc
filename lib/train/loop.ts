// `cornernet train`: the training run. TypeScript drives it: it resolves the
// config, loads the data, keeps the native trainer (steps on its own thread)
// fed a few batches ahead, passes the learning rate of every step, logs,
// checkpoints, evaluates on the val split, and writes the work dir:
//   config.json        the resolved config
//   metrics.jsonl      every logged step and every evaluation
//   checkpoints/       iter_XXXXXXXX.safetensors (the last K); abandoned-<time>/ holds
//                      those past the point a --resume went back to
//   eval.json          the final evaluation, as `cornernet eval --json` prints it
//   load_from.json     with train.loadFrom (fine-tuning): what was loaded (load_from.ts)
//   report.html        loss and AP curves, val images with predicted boxes
// Launched as several ranks (mpirun; distributed.ts), every rank trains on its
// shard of each batch and only rank 0 writes the work dir, logs and evaluates.
import * as fs from 'fs';
import * as path from 'path';
import { Writable } from 'stream';

import { loadCoco } from '../data/coco_loader';
import { resolveDataset, type SplitPaths } from '../data/coco_layout';
import type { CocoDataset } from '../data/coco_types';
import { DEFAULT_SYNTH, ensureSynthDataset } from '../data/synth_cache';
import { TrainLoader } from '../data/train_loader';
import { trainConfigFor } from '../data/transforms';
import { evaluateCoco, STAT_NAMES, type CategoryAp } from '../eval/coco_eval';
import { parseDetections, parseGroundTruth, type CocoGroundTruth, type CocoGroundTruthJson } from '../eval/coco_json';
import { groundTruthSubset } from '../eval/gt_subset';
import { predictDataset, type ImagePrediction } from '../eval/predict';
import { formatSummary } from '../eval/summary';
import { readJsonFile } from '../io/json_file';
import { Model } from '../model';
import { createProgress } from '../progress';
import { drawDetections } from '../render/draw_detections';
import { BudgetPlanner, countPlan, placeSteps, type IterationPlan } from './budget';
import { latestCheckpoint, loadCheckpoint, removeStaleTemps, resumePoint, retireCheckpointsAfter, saveCheckpoint, type Checkpoint, type CheckpointMeta } from './checkpoint';
import { resolveTrainingBackend } from './device';
import { joinRanks } from './distributed';
import { MetricsLog } from './metrics_log';
import { NativeTrainer, type StepEvent, type TrainerEvent, type TrainerState } from './native_trainer';
import type { ConfigObject } from './overrides';
import { writeReport, type ReportImage } from './report';
import { resolveConfig, type ConfigFlags, type ResolvedConfig } from './resolve_config';
import { loadFrom } from './load_from';
import { learningRate } from './schedule';

export interface TrainOptions extends ConfigFlags {
  /** A recipe name (shapes-tiny, hourglass104, ...), a JSON config file, or a config object (may `extends` a recipe). */
  config: string | ConfigObject;
  /** Default: work_dirs/<config name>. */
  workDir?: string;
  /** true: continue from the newest checkpoint of the work dir; a string: from that checkpoint file. */
  resume?: boolean | string;
  /** Where progress goes (default stderr) and whether it is a TTY (default: the stream's own). */
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  tty?: boolean;
  /** Plain log lines (default: to the progress stream). */
  log?: (line: string) => void;
  /** Aborting stops the run after the step in flight and saves a checkpoint. */
  signal?: AbortSignal;
  /** Where the synthetic dataset is cached (default: $CORNERNET_CACHE or ~/.cache/cornernet-native). */
  cacheRoot?: string;
  /**
   * When train.maxMinutes started counting (ms since the epoch); default: when train() is called.
   * The CLI passes its process's start, so the budget is the command's whole wall time.
   */
  startedAt?: number;
  /** Called with each progress event; an exception thrown here stops the run as a failure would. */
  onProgress?: (event: TrainProgressEvent) => void;
}

/** After each training step. */
export interface TrainStepEvent {
  phase: 'train';
  /** Steps done (this one included). */
  iteration: number;
  totalIterations: number;
  /** 1-based, as the progress line shows it (metrics.jsonl counts from 0). */
  epoch: number;
  /** det, pull, push, off summed over stacks, total, and each stack's terms (det_l0, ...). */
  losses: Record<string, number>;
  lr: number;
  /** Of the replica-averaged gradient, before clipping. */
  gradNorm: number;
  /** Of this step (batch over step time). */
  imagesPerSecond: number;
  /** Remaining steps at this run's mean step time (data waits included, evaluations not). */
  etaSeconds: number;
}

/** After each evaluated val image; the last event of an evaluation carries its COCO stats. */
export interface TrainEvalEvent {
  phase: 'eval';
  iteration: number;
  epoch: number;
  imagesDone: number;
  imagesTotal: number;
  /** On the last event: the 12 COCO numbers (statNames order: AP, AP50, AP75, ...). */
  stats?: number[];
}

/** After each checkpoint is written. */
export interface TrainCheckpointEvent {
  phase: 'checkpoint';
  iteration: number;
  epoch: number;
  file: string;
}

export type TrainProgressEvent = TrainStepEvent | TrainEvalEvent | TrainCheckpointEvent;

export type StopReason = 'completed' | 'max-iters' | 'max-minutes' | 'interrupted';

export interface EvalResult {
  statNames: readonly string[];
  stats: number[];
  perCategory: CategoryAp[];
}

export interface TrainResult {
  workDir: string;
  config: ResolvedConfig;
  iterations: number;
  stopped: StopReason;
  checkpoint: string | null;
  eval: EvalResult | null;
  imagesPerSecond: number;
  /** Share of step time the trainer waited for data. */
  dataWait: number;
}

interface Datasets {
  train: CocoDataset;
  val: CocoDataset | null;
  valGt: CocoGroundTruth | null;
  valGtJson: CocoGroundTruthJson | null;
  root: string;
}

async function openDatasets(c: ResolvedConfig, opts: TrainOptions, log: (l: string) => void): Promise<Datasets> {
  let root = c.data.root;
  if (root === null) {
    const synth = { ...DEFAULT_SYNTH, ...c.data.synth };
    const r = await ensureSynthDataset(synth, { root: opts.cacheRoot, log });
    root = r.dir;
    if (!r.generated) log(`using the cached synthetic shapes dataset ${root}`);
  }
  const paths = resolveDataset({
    data: root,
    trainAnnotations: c.data.trainAnnotations ?? undefined,
    trainImages: c.data.trainImages ?? undefined,
    valAnnotations: c.data.valAnnotations ?? undefined,
    valImages: c.data.valImages ?? undefined,
  });
  if (!paths.train) throw new Error(`data ${root}: no training split (annotations/instances_train*.json)`);
  const load = (s: SplitPaths) => loadCoco(s.annotationFile, { imageDir: s.imageDir });
  const train = await load(paths.train);
  for (const issue of train.issues.slice(0, 5)) log(`data: ${issue.file}: ${issue.where}: ${issue.message}`);
  if (train.issues.length > 5) log(`data: ... ${train.issues.length - 5} more box problems in ${paths.train.annotationFile} (kept out of training)`);
  let val: CocoDataset | null = null;
  let valGt: CocoGroundTruth | null = null;
  let valGtJson: CocoGroundTruthJson | null = null;
  if (paths.val) {
    val = await load(paths.val);
    valGtJson = readJsonFile(paths.val.annotationFile) as CocoGroundTruthJson;
    valGt = parseGroundTruth(valGtJson, paths.val.annotationFile);
  } else {
    log(`data ${root}: no val split (annotations/instances_val*.json): training without evaluation`);
  }
  return { train, val, valGt, valGtJson, root };
}

/** The model's classes follow the dataset unless the config pins them. */
function applyClasses(c: ResolvedConfig, train: CocoDataset, log: (l: string) => void): void {
  const n = train.categories.length;
  if (c.data.classes === 'dataset') {
    if (c.model.numClasses !== n) log(`model: ${n} classes, from the dataset's categories (the preset had ${c.model.numClasses})`);
    c.model.numClasses = n;
  } else if (n > c.model.numClasses) {
    throw new Error(`config.model.numClasses is ${c.model.numClasses} (data.classes: 'config') but ${train.annotationFile} has ${n} categories`);
  }
}

async function evaluate(
  c: ResolvedConfig,
  backend: string,
  state: TrainerState,
  d: Datasets,
  log: (l: string) => void,
  onImage: (done: number, total: number) => void,
): Promise<{ result: EvalResult; perImage: ImagePrediction[] } | null> {
  if (!d.val || !d.valGt) return null;
  const indices = d.val.images.map((_, i) => i).slice(0, c.data.maxValImages ?? undefined);
  const started = Date.now();
  // The evaluation's own copy of the weights is freed as soon as it has run, not when collected.
  await using model = new Model(c.model, { backend });
  model.loadStateDict(state.stateDict);
  const { results, perImage } = await predictDataset(model, d.val, { flip: c.evaluation.flip, indices, onImage });
  const gt =
    c.data.maxValImages === null || indices.length === d.val.images.length
      ? d.valGt
      : groundTruthSubset(d.valGtJson!, new Set(indices.map((i) => d.val!.images[i]!.id)), d.val.annotationFile);
  const { stats, perCategory } = evaluateCoco(gt, parseDetections(results, gt, 'detections'));
  log(`eval: ${indices.length} val images in ${((Date.now() - started) / 1000).toFixed(1)} s, AP ${stats[0]!.toFixed(3)} AP50 ${stats[1]!.toFixed(3)} AP75 ${stats[2]!.toFixed(3)}`);
  return { result: { statNames: STAT_NAMES, stats, perCategory }, perImage };
}


/**
 * Seconds one evaluation of the val split will take, from predicting a few val
 * images (both views with the flip test) with the given weights: the time
 * budget reserves it for the final evaluation and each one on the way.
 */
async function timeEvaluation(c: ResolvedConfig, backend: string, state: TrainerState, d: Datasets, sample = 4): Promise<number> {
  const total = Math.min(d.val!.images.length, c.data.maxValImages ?? Infinity);
  if (total === 0) return 0;
  const model = new Model(c.model, { backend });
  model.loadStateDict(state.stateDict);
  // One image at a time: the first pays for allocations once (as an evaluation does), the others give the
  // time per image. An unreadable one is left out here; the evaluation itself reports it.
  const seconds: number[] = [];
  for (let i = 0; i < total && seconds.length < sample; i++) {
    const t = Date.now();
    try {
      await predictDataset(model, d.val!, { flip: c.evaluation.flip, indices: [i] });
    } catch {
      continue;
    }
    seconds.push((Date.now() - t) / 1000);
  }
  if (seconds.length === 0) return 1;
  const perImage = seconds.length > 1 ? seconds.slice(1).reduce((a, b) => a + b, 0) / (seconds.length - 1) : seconds[0]!;
  // COCO evaluation and model set-up: a second, and a tenth more for images of other sizes.
  return 1 + seconds[0]! + 1.1 * perImage * (total - 1);
}

async function reportImages(d: Datasets, perImage: ImagePrediction[], threshold = 0.3, count = 6): Promise<ReportImage[]> {
  const out: ReportImage[] = [];
  const names = classesByLabel(d.val!).classNames;
  for (const p of perImage.slice(0, count)) {
    const im = d.val!.images[p.imageIndex]!;
    const boxes = [];
    for (let k = 0; k < p.detections.scores.length; k++) {
      const score = p.detections.scores[k]!;
      if (score < threshold) continue;
      const b = p.detections.boxes;
      const name = names[p.detections.labels[k]!];
      boxes.push({ box: [b[4 * k]!, b[4 * k + 1]!, b[4 * k + 2]!, b[4 * k + 3]!] as [number, number, number, number], label: name ?? String(p.detections.labels[k]), score });
    }
    out.push({ title: `${im.fileName}: ${boxes.length} detections >= ${threshold}`, png: await drawDetections(path.join(d.val!.imageDir, im.fileName), boxes) });
  }
  return out;
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const startedAt = opts.startedAt ?? Date.now();
  let progressStream = opts.progressStream ?? process.stderr;
  let log = opts.log ?? ((l: string) => progressStream.write(`${l}\n`));

  // ---- ranks, config, resume point --------------------------------------------------
  let c = resolveConfig(opts.config, opts);
  const ranks = await joinRanks(c.device, process.env, { replicas: c.train.replicas });
  await ranks.checkSameConfig(c);
  if (!ranks.isRoot) {
    // Rank 0 speaks for the run; the others say only what is theirs (skipped images, their errors).
    const own = log;
    log = (l) => (l.startsWith('data: ') ? own(`rank ${ranks.rank}: ${l}`) : undefined);
    progressStream = new Writable({ write: (_chunk, _enc, done) => done() });
  }
  const workDir = path.resolve(opts.workDir ?? path.join('work_dirs', c.name));
  let resumeFrom: Checkpoint | null = null;
  let resumedPlan: IterationPlan | null = null;
  let replanFrom: { iter: number; stepIters: number[] } | null = null;
  // Rank 0 reads the checkpoint; the others get its place in the run (the state itself
  // reaches them from rank 0's trainer: syncFromRoot below).
  const resumeAt = !opts.resume ? null : await ranks.fromRoot(async () => {
    resumeFrom = typeof opts.resume === 'string' ? await loadCheckpoint(opts.resume) : await latestCheckpoint(workDir, (w) => log(`resume: ${w}`));
    if (!resumeFrom) throw new Error(`--resume: no checkpoint in ${path.join(workDir, 'checkpoints')}`);
    return { file: resumeFrom.file, meta: resumeFrom.meta, config: resumePoint(resumeFrom).config };
  });
  if (resumeAt) {
    // A rank's share of each batch depends on the number of ranks: the data order continues only with as many.
    const savedRanks = typeof resumeAt.meta.loop?.ranks === 'number' ? resumeAt.meta.loop.ranks : 1;
    if (savedRanks !== ranks.size)
      throw ranks.together(new Error(`--resume: ${resumeAt.file} was written by a run of ${savedRanks} process${savedRanks > 1 ? 'es' : ''}, this one has ${ranks.size}: ` +
        `resume it with the same number (${savedRanks > 1 ? `mpirun -np ${savedRanks}` : 'without mpirun'})`));
    // The run continues with the config it was started with; only the stopping limits may change.
    const saved = resumeAt.config;
    // A plan is kept while the time budget it was made for stays; a new one plans again from the checkpoint on.
    if (saved.train.maxMinutes === c.train.maxMinutes) resumedPlan = resumeAt.meta.plan ?? null;
    else if (resumeAt.meta.plan) replanFrom = { iter: resumeAt.meta.iter, stepIters: resumeAt.meta.plan.stepIters };
    c = { ...saved, train: { ...saved.train, maxIters: c.train.maxIters, maxMinutes: c.train.maxMinutes } };
    log(`resuming from ${resumeAt.file} (iteration ${resumeAt.meta.iter}, epoch ${resumeAt.meta.epoch + 1})`);
  }
  if (ranks.isRoot) {
    fs.mkdirSync(workDir, { recursive: true });
    const stale = removeStaleTemps(workDir);
    if (stale) log(`removed ${stale} partial checkpoint file(s) left by an interrupted save`);
    if (resumeAt) {
      const retired = retireCheckpointsAfter(workDir, resumeAt.meta.iter);
      if (retired) log(`resume: moved ${retired.count} checkpoint(s) past iteration ${resumeAt.meta.iter} (of the run this one replaces from there) to ${retired.dir}`);
    }
  }

  // ---- device, data, model, trainer ----------------------------------------------------
  // GPU ranks train on the device joinRanks gave them (their local rank's); CPU ranks
  // (`auto` included, when joinRanks found no usable GPU) on the CPU.
  const backend = ranks.backend ?? (ranks.size > 1 && c.device === 'auto' ? 'cpu' : resolveTrainingBackend(c.device, log));
  // Rank 0 first: it may generate the synthetic dataset the others then read from the cache.
  const d = await ranks.rootFirst(() => openDatasets(c, opts, log));
  if (!resumeAt) applyClasses(c, d.train, log);
  if (ranks.isRoot) writeJsonAtomic(path.join(workDir, 'config.json'), c);
  // Per rank; a step trains on `bs` images on every rank, `globalBatch` in all.
  const bs = c.train.batchSize * c.train.replicas;
  const globalBatch = bs * ranks.size;
  const loader = new TrainLoader(d.train, {
    batchSize: bs,
    seed: c.train.seed,
    workers: c.data.workers,
    decodedCacheBytes: c.data.decodedCacheMB * 2 ** 20,
    transform: trainConfigFor(c.data.inputSize, c.data.augment),
    onBadImage: (i) => log(`data: skipped ${i.file} (${i.where}): ${i.message}`),
    shard: ranks.size > 1 ? { rank: ranks.rank, size: ranks.size } : undefined,
  });
  const itersPerEpoch = loader.batchesPerEpoch;
  if (itersPerEpoch < 1) throw new Error(`data: ${loader.indices.length} usable training images, fewer than one batch of ${globalBatch}`);
  // The run's length and, with schedule.stepFractions, its lr steps (budget.ts); a resumed run keeps its checkpoint's plan.
  const fractions = c.schedule.stepFractions;
  let plan: IterationPlan = countPlan(fractions ?? [], itersPerEpoch * c.train.epochs);
  if (fractions && resumedPlan) plan = resumedPlan;
  else if (fractions && replanFrom) plan = { ...plan, stepIters: placeSteps(fractions, plan.totalIters, replanFrom.iter, replanFrom.stepIters) };
  else resumedPlan = null;
  // Where training ends: the plan, or maxIters when sooner (a stop limit: the lr steps stay the plan's).
  const stopAt = () => Math.min(plan.totalIters, c.train.maxIters ?? Infinity);
  // Fitting the run to the time budget measures this process's speed: with several ranks each would
  // plan its own lr steps, so there the plan is the epochs' and maxMinutes only stops training.
  const budgeted = fractions !== null && c.train.maxMinutes !== null && ranks.size === 1;
  const split = [ranks.size > 1 ? `${ranks.size} ranks` : '', c.train.replicas > 1 ? `${c.train.replicas} replicas` : ''].filter(Boolean);
  log(
    `training ${c.name} on ${backend}${ranks.size > 1 ? ` x ${ranks.describe()}` : ''}: ${loader.indices.length} images, ${itersPerEpoch} iterations/epoch of ${globalBatch} images` +
      `${split.length ? ` (${split.join(' x ')} x ${c.train.batchSize})` : ''}, ` +
      `${budgeted ? `at most ${c.train.epochs} epochs, as many as fit in ${c.train.maxMinutes} min` : `${c.train.epochs} epochs`}; work dir ${workDir}`,
  );

  const metrics = ranks.isRoot ? new MetricsLog(path.join(workDir, 'metrics.jsonl')) : null;
  let iter = 0;
  let epoch = 0;
  // Where the first epoch of this run starts: iterations done, entries of its image order consumed.
  let start = { batches: 0, images: 0 };
  if (resumeAt) {
    const m = resumeAt.meta;
    iter = m.iter;
    epoch = m.epoch;
    const mine = (m.loop?.epochImagesPerRank as number[] | undefined)?.[ranks.rank];
    start = { batches: m.epochIter, images: mine ?? m.epochImages ?? m.epochIter * bs };
    if (start.batches >= itersPerEpoch) (epoch += 1), (start = { batches: 0, images: 0 });
    metrics?.truncateAfter(iter);
  } else if (metrics && fs.existsSync(metrics.file)) {
    fs.rmSync(metrics.file);
  }

  let failure: Error | null = null;
  let inflight = 0;
  let wake: (() => void) | null = null;
  let stepsDone = iter;
  let stepSeconds = 0, waitSeconds = 0, imagesTrained = 0;
  const progress = createProgress({ label: 'train', total: stopAt(), unit: 'img', stream: progressStream, tty: opts.tty, intervalMs: 15000 });
  const t0 = Date.now();
  // The lr each fed iteration was given, until its step reports (steps run a few feeds behind).
  const lrOf = new Map<number, number>();
  let planner: BudgetPlanner | null = null;
  const firstIter = iter;
  // The 1-based epoch of the step that made `steps` steps.
  const epochOf = (steps: number) => Math.floor(Math.max(0, steps - 1) / itersPerEpoch) + 1;
  // Ranks stop together: a rank's signal or time limit is a request carried by the next
  // step to every rank, whose event then says why (the same step everywhere).
  let groupStop: StopReason | null = null;
  const stopRequested = new Set<string>();
  const requestStop = (why: 'interrupted' | 'max-minutes') => {
    if (!stopRequested.has(why)) trainer.requestStop(why);
    stopRequested.add(why);
  };
  // The caller's handler runs inside the engine's event callback and the
  // evaluation: what it throws ends the run the way a failed step does.
  let cancelSteps = () => {};
  const emit = (e: TrainProgressEvent) => {
    if (!opts.onProgress) return;
    try {
      opts.onProgress(e);
    } catch (err) {
      failure ??= new Error(`training stopped at iteration ${stepsDone}: the onProgress handler threw: ${err instanceof Error ? err.message : String(err)}`);
      cancelSteps();
    }
  };
  const onEvent = (e: TrainerEvent) => {
    inflight -= e.type === 'cancelled' ? e.dropped : 1;
    if (e.type === 'cancelled') {
      wake?.();
      return;
    }
    if (e.type === 'error') {
      failure ??= new Error(`training step ${e.iter} failed: ${e.message}`);
    } else if (e.type === 'nonfinite') {
      // Every rank sees the same non-finite step.
      failure ??= ranks.together(new Error(
        `training stopped at iteration ${e.iter}: the ${e.term === 'gradient norm' ? 'gradient norm' : `${e.term} loss`} is NaN or infinite; ` +
          `no weight was changed by that step, and the last checkpoint is intact`,
      ));
    } else {
      onStep(e);
    }
    wake?.();
  };
  const onStep = (e: StepEvent) => {
    stepsDone = e.iter + 1;
    stepSeconds += e.seconds;
    waitSeconds += e.waitSeconds;
    imagesTrained += globalBatch;
    if (e.stop) groupStop ??= e.stop.includes('interrupted') ? 'interrupted' : 'max-minutes';
    const terms = sumTerms(e.losses);
    const lr = lrOf.get(e.iter) ?? NaN;
    lrOf.delete(e.iter);
    progress.update(stepsDone, { epoch: Math.floor(e.iter / itersPerEpoch) + 1, loss: e.total, ...terms, lr }, imagesTrained);
    planner?.stepDone(stepsDone, Date.now());
    emit({
      phase: 'train', iteration: stepsDone, totalIterations: stopAt(), epoch: Math.floor(e.iter / itersPerEpoch) + 1,
      losses: { ...terms, total: e.total, ...e.losses }, lr, gradNorm: e.gradNorm, imagesPerSecond: bs / Math.max(1e-9, e.seconds),
      etaSeconds: ((stepSeconds + waitSeconds) / Math.max(1, stepsDone - firstIter)) * (stopAt() - stepsDone),
    });
    if (e.iter % c.log.intervalIters === 0 || stepsDone === stopAt()) {
      metrics?.append({
        kind: 'train', time: new Date().toISOString(), device: backend, epoch: Math.floor(e.iter / itersPerEpoch), iter: stepsDone, lr,
        losses: { ...e.losses, ...terms, total: e.total }, imagesPerSec: globalBatch / Math.max(1e-9, e.seconds), dataWait: e.waitSeconds / Math.max(1e-9, e.seconds + e.waitSeconds),
      });
    }
  };

  const trainer = new NativeTrainer(
    {
      model: c.model, replicas: c.train.replicas, backend, seed: c.train.seed, group: ranks.group ?? undefined,
      adam: { beta1: c.optimizer.betas[0], beta2: c.optimizer.betas[1], eps: c.optimizer.eps, weightDecay: c.optimizer.weightDecay, gradClip: c.optimizer.gradClip },
    },
    onEvent,
  );
  cancelSteps = () => {
    trainer.cancel();
    wake?.();
  };
  let lastCheckpoint: string | null = resumeAt?.file ?? null;
  let stopped: StopReason = 'completed';
  let finalEval: EvalResult | null = null;
  let lastPerImage: ImagePrediction[] = [];
  // Steps already queued are dropped (they would delay the stop by whole steps);
  // the loop feeds nothing more, so the steps that ran are exactly 0..stepsDone-1.
  const abort = () => {
    // With several ranks, dropping this rank's queued steps would leave the others waiting in them.
    if (ranks.size > 1) requestStop('interrupted');
    else trainer.cancel();
    wake?.();
  };
  opts.signal?.addEventListener('abort', abort);

  // Where each fed iteration sits in the data order: a checkpoint records the
  // position after the last step that ran (steps dropped by a cancel did not).
  const position = new Map<number, { epoch: number; batches: number; images: number }>();
  const checkpoint = async () => {
    const state = await trainer.snapshot();
    if (failure) return state;
    // A step's loss is checked before its update: the update itself can leave NaN or infinite
    // weights or BN statistics (a learning rate far too large), which only the next step's loss
    // would show. Nothing is saved or evaluated from such a state.
    const bad = nonFiniteEntry(state);
    if (bad) {
      // The ranks hold the same weights: every rank finds them.
      failure = ranks.together(new Error(
        `training stopped at iteration ${stepsDone}: ${bad} holds NaN or infinite values after that step's update, ` +
          `though its loss was finite (optimizer.lr ${c.optimizer.lr} is too large?); the last checkpoint is intact`,
      ));
      return state;
    }
    const pos = position.get(stepsDone - 1) ?? { epoch, ...start };
    // Each rank's place in its own share of the data (they differ once a rank skipped an image).
    const places = ranks.size > 1 ? await ranks.allGather(pos.images) : null;
    if (!ranks.isRoot) return state;
    const meta: CheckpointMeta = {
      iter: stepsDone, epoch: pos.epoch, epochIter: pos.batches, epochImages: pos.images, ...(fractions ? { plan } : {}),
      loop: { seed: c.train.seed, ...classesByLabel(d.train), ...(places ? { ranks: ranks.size, epochImagesPerRank: places } : {}) },
      config: c as unknown as Record<string, unknown>, time: new Date().toISOString(),
    };
    lastCheckpoint = await saveCheckpoint(workDir, meta, state, c.checkpoint.keep);
    emit({ phase: 'checkpoint', iteration: stepsDone, epoch: epochOf(stepsDone), file: lastCheckpoint });
    return state;
  };
  const runEval = async (state: TrainerState, ep: number) => {
    let r: Awaited<ReturnType<typeof evaluate>>;
    const evalStart = Date.now();
    try {
      const onImage = (done: number, total: number) => emit({ phase: 'eval', iteration: stepsDone, epoch: epochOf(stepsDone), imagesDone: done, imagesTotal: total });
      r = await evaluate(c, backend, state, d, (l) => progress.log(l), onImage);
      if (planner) {
        planner.pause(Date.now() - evalStart);
        planner.evalSeconds = (Date.now() - evalStart) / 1000;
      }
    } catch (e) {
      const m = (e as Error).message;
      // Finite but huge weights (checked finite when saved) can still overflow in the eval-mode
      // forward after the last update, which no training step has run with: the decoder then
      // finds NaN heat maps. That is the run diverging, and is said as the NaN guard says it.
      if (/(tl|br)Heat holds NaN/.test(m)) {
        const [name, max] = largestWeight(state);
        throw new Error(
          `training stopped at iteration ${stepsDone}: the model's outputs on the val images are NaN (${m}) though every loss was finite: ` +
            `the weights have diverged (largest |weight| ${max.toExponential(1)}, in ${name}; optimizer.lr ${c.optimizer.lr} is too large?); ` +
            `checkpoint ${lastCheckpoint} holds these weights, an earlier one may not`,
        );
      }
      // An unreadable val image stops the run (an AP without it would not be the
      // val split's); the state it evaluated is the checkpoint just written, and a
      // resumed run evaluates it again.
      throw new Error(`evaluation at iteration ${stepsDone}: ${m}; the trained state is saved in ${lastCheckpoint}: ` +
        `once the val split is fixed, --resume continues from it (cornernet test --weights ${lastCheckpoint} --data ${d.root} evaluates it)`);
    }
    if (!r) return;
    emit({ phase: 'eval', iteration: stepsDone, epoch: epochOf(stepsDone), imagesDone: r.perImage.length, imagesTotal: r.perImage.length, stats: r.result.stats });
    finalEval = r.result;
    lastPerImage = r.perImage;
    metrics?.append({ kind: 'eval', time: new Date().toISOString(), device: backend, epoch: ep, iter: stepsDone, stats: r.result.stats });
  };

  try {
    if (resumeFrom) await trainer.load((resumeFrom as Checkpoint).state);
    // Rank 0 loads the weights (and writes load_from.json); syncFromRoot hands them to the others.
    else if (c.train.loadFrom !== null && ranks.isRoot) await loadFrom(trainer, c.train.loadFrom, workDir, log);
    if (ranks.size > 1) await trainer.syncFromRoot();
    // Every epoch then runs from memory, the first included (and a time budget measures that speed).
    const warmStart = Date.now();
    const warmed = await loader.warmDecodedCache(opts.signal);
    if (warmed && warmed.entries > 0)
      log(`data: ${warmed.entries} of ${loader.indices.length} training images decoded into memory (${(warmed.bytes / 2 ** 20).toFixed(0)} MiB) in ${((Date.now() - warmStart) / 1000).toFixed(1)} s`);
    const annealed = c.schedule.annealing !== 'step';
    if (annealed) log(`schedule: lr annealed (${c.schedule.annealing}) to x${c.schedule.minLrRatio} at the last of the run's iterations`);
    else if (fractions) log(`schedule: lr x${c.schedule.gamma} at ${fractions.map((f) => `${(100 * f).toFixed(0)} %`).join(', ')} of the run's iterations`);
    const lrPlan = () => (annealed ? `lr annealed to iteration ${plan.totalIters}` : `lr steps at iterations ${plan.stepIters.join(', ')}`);
    if (budgeted) {
      // The time budget sets the run's length: measure what one evaluation costs before training starts.
      const timingStart = Date.now();
      const evalSeconds = d.val ? await timeEvaluation(c, backend, await trainer.snapshot(), d) : 0;
      planner = new BudgetPlanner({
        fractions, cap: plan, budgetSeconds: c.train.maxMinutes! * 60, startedAt, itersPerEpoch, epochs: c.train.epochs,
        intervalEpochs: c.evaluation.intervalEpochs, evalSeconds, resumed: resumedPlan ? plan : null,
      });
      planner.pause(Date.now() - timingStart);
      log(`budget: ${c.train.maxMinutes} min for the whole run, ${((Date.now() - startedAt) / 1000).toFixed(1)} s spent before training; ` +
        `one evaluation estimated at ${evalSeconds.toFixed(1)} s; ` +
        (planner.decided ? `the checkpoint's plan continues: ${plan.totalIters} iterations, ${lrPlan()}` : 'the iterations are fitted once a few steps are measured'));
    }
    let loggedTotal = planner?.decided ? plan.totalIters : 0;
    // Epoch schedules: maxMinutes stops training (evaluation follows). A time-budgeted plan ends in
    // time by itself; this only stops a run whose machine stalls, leaving time for the evaluation.
    const deadline = () =>
      c.train.maxMinutes === null ? Infinity : planner ? startedAt + (c.train.maxMinutes * 60 - planner.evalSeconds - 2) * 1000 : t0 + c.train.maxMinutes * 60000;
    outer: for (; epoch < c.train.epochs; epoch++, start = { batches: 0, images: 0 }) {
      let b = start.batches;
      const badBefore = loader.badImages.length;
      for await (const batch of loader.epoch(epoch, start.images)) {
        // Several ranks go on feeding after a signal until the group's stop step comes back.
        const aborted = () => ranks.size === 1 && opts.signal?.aborted;
        while (inflight >= c.train.prefetch && !failure && !aborted() && !groupStop) await new Promise<void>((r) => (wake = r));
        if (planner?.replan(iter, stepsDone, Date.now())) {
          plan = planner.plan;
          progress.setTotal(stopAt());
          if (Math.abs(plan.totalIters - loggedTotal) > 0.05 * loggedTotal) {
            loggedTotal = plan.totalIters;
            progress.log(`budget: ${plan.totalIters} iterations (${(plan.totalIters / itersPerEpoch).toFixed(1)} epochs) fit, at ${planner.secondsPerIter()!.toFixed(3)} s per iteration ` +
              `with ${planner.evalSeconds.toFixed(1)} s per evaluation; ${lrPlan()}`);
          }
        }
        // Checked after the wait: an abort during it must not let this batch in.
        if (ranks.size > 1) {
          if (opts.signal?.aborted) requestStop('interrupted'); // also a signal that came before the loop listened
          if (Date.now() > deadline()) requestStop('max-minutes');
          if (groupStop) stopped = groupStop;
          else if (iter >= stopAt()) stopped = 'max-iters';
          else if (b >= itersPerEpoch) break; // a shard's stream may hold more blocks than the epoch's global batches
        } else if (opts.signal?.aborted) stopped = 'interrupted';
        else if (iter >= plan.totalIters) stopped = plan.limit === 'epochs' ? 'completed' : plan.limit;
        else if (c.train.maxIters !== null && iter >= c.train.maxIters) stopped = 'max-iters';
        else if (Date.now() > deadline()) stopped = 'max-minutes';
        if (stopped !== 'completed' || failure || iter >= plan.totalIters) break outer;
        const lr = learningRate({ lr: c.optimizer.lr, ...c.schedule }, iter, epoch, fractions ? plan.stepIters : undefined, plan.totalIters);
        lrOf.set(iter, lr);
        trainer.feed({ images: batch.images, boxes: batch.boxes, labels: batch.labels, lr, iter });
        inflight++;
        b++;
        position.set(iter, { epoch, batches: b, images: batch.consumed });
        iter++;
        if (c.checkpoint.intervalIters && iter % c.checkpoint.intervalIters === 0) await checkpoint();
      }
      if (failure) break;
      // A whole epoch without one batch: every image (or all but less than a batch) was skipped, and
      // every later epoch would be the same. Finishing "successfully" after 0 steps would hide that.
      if (start.batches === 0 && b === 0) throw new Error(noBatchMessage(loader, badBefore, bs, d.train.annotationFile));
      if (ranks.size > 1 && b < itersPerEpoch)
        throw new Error(`rank ${ranks.rank}: ${loader.badImages.length - badBefore} unreadable image(s) in epoch ${epoch + 1} left this rank ${b} of the ${itersPerEpoch} batches every rank must train on; ` +
          `ranks must take the same steps: fix or remove them (${loader.badImages.slice(badBefore, badBefore + 3).map((i) => i.file).join(', ')})`);
      position.set(iter - 1, { epoch: epoch + 1, batches: 0, images: 0 });
      const state = await checkpoint();
      if (failure) break;
      const isLast = epoch + 1 === c.train.epochs || iter >= stopAt();
      if (!isLast && (epoch + 1) % c.evaluation.intervalEpochs === 0) {
        if (ranks.isRoot) await runEval(state, epoch);
        await ranks.barrier(); // the other ranks wait for rank 0's evaluation
      }
      if (iter >= stopAt() && epoch + 1 < c.train.epochs) {
        stopped = iter >= plan.totalIters && plan.limit === 'max-minutes' ? 'max-minutes' : 'max-iters';
        break;
      }
    }
    // Let the queued steps finish (or be dropped when interrupted), then the last state.
    if (stopped === 'interrupted') trainer.cancel();
    const state = stopped !== 'completed' ? await checkpoint() : await trainer.snapshot();
    if (failure) throw failure;
    progress.stop();
    // The trainer's replicas and optimizer state are not needed to evaluate: free them first.
    await trainer.close();
    if (stopped === 'interrupted') {
      log(`interrupted at iteration ${stepsDone}: checkpoint ${lastCheckpoint}; continue with --resume`);
    } else if (ranks.isRoot) {
      await runEval(state, epoch);
      if (failure) throw failure;
    }
  } finally {
    opts.signal?.removeEventListener('abort', abort);
    progress.stop();
    await trainer.close();
  }

  const wall = (Date.now() - t0) / 1000;
  if (!ranks.isRoot) {
    return {
      workDir, config: c, iterations: stepsDone, stopped, checkpoint: null, eval: null,
      imagesPerSecond: imagesTrained / Math.max(1e-9, stepSeconds), dataWait: waitSeconds / Math.max(1e-9, stepSeconds + waitSeconds),
    };
  }
  if (finalEval) {
    const e = finalEval as EvalResult;
    writeJsonAtomic(path.join(workDir, 'eval.json'), { device: backend, ...e });
    log(formatSummary(e.stats));
  }
  const images = lastPerImage.length && d.val ? await reportImages(d, lastPerImage) : [];
  writeReport(workDir, `${c.name}: ${stepsDone} iterations`, metrics!.read(), images);
  log(`${stopped === 'completed' ? 'finished' : `stopped (${stopped})`}: ${stepsDone} iterations in ${wall.toFixed(0)} s, ` +
    `${(imagesTrained / Math.max(1e-9, stepSeconds)).toFixed(1)} images/s in steps, data wait ${(100 * waitSeconds / Math.max(1e-9, stepSeconds + waitSeconds)).toFixed(1)}%; report ${path.join(workDir, 'report.html')}`);
  return {
    workDir, config: c, iterations: stepsDone, stopped, checkpoint: lastCheckpoint, eval: finalEval,
    imagesPerSecond: imagesTrained / Math.max(1e-9, stepSeconds), dataWait: waitSeconds / Math.max(1e-9, stepSeconds + waitSeconds),
  };
}

/** The first weight or BN statistic holding NaN or an infinity, or null. */
function nonFiniteEntry(state: TrainerState): string | null {
  for (const [k, v] of Object.entries(state.stateDict)) {
    if (!(v.data instanceof Float32Array)) continue;
    for (let i = 0; i < v.data.length; i++) if (!Number.isFinite(v.data[i]!)) return k;
  }
  return null;
}

/** The parameter with the largest magnitude, and that magnitude. */
function largestWeight(state: TrainerState): [string, number] {
  let best: [string, number] = ['', 0];
  for (const [k, v] of Object.entries(state.stateDict)) {
    if (!(v.data instanceof Float32Array)) continue;
    for (let i = 0; i < v.data.length; i++) if (Math.abs(v.data[i]!) > best[1]) best = [k, Math.abs(v.data[i]!)];
  }
  return best;
}

/** Why an epoch gave no batch, naming the skipped images (the first few) and why they were skipped. */
function noBatchMessage(loader: TrainLoader, badBefore: number, batchSize: number, annotationFile: string): string {
  const bad = loader.badImages.slice(badBefore);
  const n = loader.indices.length;
  const shown = bad.slice(0, 3).map((i) => `${i.message.startsWith(i.file) ? i.message : `${i.file}: ${i.message}`} (${i.where})`);
  return (
    `data: no training batch can be made: ${bad.length} of the ${n} training images of ${annotationFile} were skipped, ` +
    `leaving ${n - bad.length}, fewer than a batch of ${batchSize}` +
    (shown.length ? `; ${shown.join('; ')}${bad.length > shown.length ? `; ... ${bad.length - shown.length} more` : ''}` : '')
  );
}

/** det/pull/push/off summed over stacks (the per-stack terms stay in the metrics). */
function sumTerms(losses: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = { det: 0, pull: 0, push: 0, off: 0 };
  for (const [k, v] of Object.entries(losses)) {
    const term = k.split('_')[0]!;
    if (term in out) out[term]! += v;
  }
  return out;
}

/** Class names and category ids by class index (the loader's labels: ascending category id, whatever the file's order). */
function classesByLabel(ds: CocoDataset): { classNames: string[]; categoryIds: number[] } {
  const byId = new Map(ds.categories.map((k) => [k.id, k.name]));
  return { classNames: ds.labelToCategoryId.map((id) => byId.get(id)!), categoryIds: [...ds.labelToCategoryId] };
}
