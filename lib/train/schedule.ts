// Learning-rate schedule of the reference recipe (mmcv's StepLrUpdaterHook with
// linear warmup): lr = base * gamma^(steps passed by the epoch), and during the
// first `warmupIters` iterations lr is scaled up linearly from `warmupRatio`.
// The trainer asks for the lr of every iteration; the engine never decides it.
// A run planned by iterations (budget.ts: steps at fractions of a time or
// iteration budget) passes its step iterations instead of epochs.

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
}

export const referenceSchedule: LrSchedule = { lr: 5e-4, steps: [180], gamma: 0.1, warmupIters: 500, warmupRatio: 1 / 3 };

/**
 * lr for global iteration `iter` (0-based) during epoch `epoch` (0-based); with
 * `stepIters`, the steps are those iterations and `s.steps` is not used.
 */
export function learningRate(s: LrSchedule, iter: number, epoch: number, stepIters?: readonly number[]): number {
  let passed = 0;
  if (stepIters) for (const step of stepIters) passed += iter >= step ? 1 : 0;
  else for (const step of s.steps) passed += epoch >= step ? 1 : 0;
  const regular = s.lr * s.gamma ** passed;
  if (s.warmupIters > 0 && iter < s.warmupIters) {
    // mmcv: regular * (1 - (1 - iter / warmup_iters) * (1 - ratio))
    return regular * (1 - (1 - iter / s.warmupIters) * (1 - s.warmupRatio));
  }
  return regular;
}

/** Checks a schedule, naming the field at fault. */
export function validateSchedule(s: LrSchedule, where = 'schedule'): void {
  const bad = (field: string, want: string, got: unknown) => {
    throw new Error(`${where}.${field}: expected ${want}, got ${JSON.stringify(got)}`);
  };
  if (!(Number.isFinite(s.lr) && s.lr > 0)) bad('lr', 'a positive number', s.lr);
  if (!Array.isArray(s.steps) || !s.steps.every((e) => Number.isInteger(e) && e >= 0)) bad('steps', 'a list of non-negative integer epochs', s.steps);
  if (!(Number.isFinite(s.gamma) && s.gamma > 0)) bad('gamma', 'a positive number', s.gamma);
  if (!(Number.isInteger(s.warmupIters) && s.warmupIters >= 0)) bad('warmupIters', 'a non-negative integer', s.warmupIters);
  if (!(Number.isFinite(s.warmupRatio) && s.warmupRatio > 0 && s.warmupRatio <= 1)) bad('warmupRatio', 'a number in (0, 1]', s.warmupRatio);
}
