// Learning-rate schedule of the reference recipe (mmcv's StepLrUpdaterHook with
// linear warmup): lr = base * gamma^(steps passed by the epoch), and during the
// first `warmupIters` iterations lr is scaled up linearly from `warmupRatio`.
// The trainer asks for the lr of every iteration; the engine never decides it.
// A run planned by iterations (budget.ts: steps at fractions of a time or
// iteration budget) passes its step iterations instead of epochs.
// Annealed schedules (mmcv's CosineAnnealingLrUpdaterHook and its linear
// counterpart, by iteration) decay lr over the run's planned iterations instead
// of stepping it; the warm-up multiplies them the same way.

/** How lr falls after the warm-up: in steps of `gamma`, or annealed over the planned iterations. */
export type Annealing = 'step' | 'linear' | 'cosine';

export interface LrSchedule {
  /** Base learning rate (Adam lr; the reference uses 5e-4 for 8x6 images). */
  lr: number;
  /** Epochs (0-based index) at which lr is multiplied by `gamma`, e.g. [180]. */
  steps: number[];
  gamma: number;
  /** Linear warmup over the first iterations (0 = none). */
  warmupIters: number;
  /** lr starts at lr * warmupRatio and reaches lr after warmupIters. */
  warmupRatio: number;
  /** 'step' (default): the steps above; 'linear' / 'cosine': from lr down to lr * minLrRatio at the last planned iteration. */
  annealing?: Annealing;
  /** Where an annealed lr ends, as a fraction of lr (default 0). */
  minLrRatio?: number;
}

/**
 * lr for global iteration `iter` (0-based) during epoch `epoch` (0-based); with
 * `stepIters`, the steps are those iterations and `s.steps` is not used. An
 * annealed schedule reads only `totalIters`, the run's planned iterations.
 */
export function learningRate(s: LrSchedule, iter: number, epoch: number, stepIters?: readonly number[], totalIters?: number): number {
  const regular = s.annealing === 'linear' || s.annealing === 'cosine' ? annealedLr(s, iter, totalIters) : steppedLr(s, iter, epoch, stepIters);
  if (s.warmupIters > 0 && iter < s.warmupIters) {
    // mmcv: regular * (1 - (1 - iter / warmup_iters) * (1 - ratio))
    return regular * (1 - (1 - iter / s.warmupIters) * (1 - s.warmupRatio));
  }
  return regular;
}

function steppedLr(s: LrSchedule, iter: number, epoch: number, stepIters?: readonly number[]): number {
  let passed = 0;
  if (stepIters) for (const step of stepIters) passed += iter >= step ? 1 : 0;
  else for (const step of s.steps) passed += epoch >= step ? 1 : 0;
  return s.lr * s.gamma ** passed;
}

// mmcv anneals from the start of training (the warm-up scales the annealed value), and reaches the
// minimum at the last iteration: progress = iter / (totalIters - 1).
function annealedLr(s: LrSchedule, iter: number, totalIters: number | undefined): number {
  if (totalIters === undefined) throw new Error(`schedule.annealing '${s.annealing}' needs the run's planned iterations`);
  const progress = totalIters > 1 ? Math.min(1, Math.max(0, iter / (totalIters - 1))) : 1;
  const left = s.annealing === 'linear' ? 1 - progress : (1 + Math.cos(Math.PI * progress)) / 2;
  const min = s.minLrRatio ?? 0;
  return s.lr * (min + (1 - min) * left);
}
