// How long a run trains and where its learning-rate steps fall when the
// schedule is given as fractions of the run (`schedule.stepFractions`) rather
// than as epochs: the run's length is its epochs or, with `train.maxMinutes`,
// the iterations that fit in the time budget when fewer, which is the whole
// run's wall time (start-up, data, training, evaluations, report).
// `train.maxIters` stays a stop limit, as with epoch schedules, so a run stopped
// by it and resumed with a larger one matches an uninterrupted run. The time-fitted length is decided once, from the
// seconds per iteration measured over the first tenth of the budget (at most
// 30 s) and the estimated evaluation time; after that it is shortened when the
// run falls behind (a shared machine slowing down), so that the run still ends
// in time and takes its lr steps, and lengthened while no lr step has been fed
// and the run is at least 3 % ahead (a slow measurement window left a tenth of
// a budget unused); either only moves steps the trainer has not been fed yet,
// so the lr of every iteration fed stays what it was. The plan is recorded in
// every checkpoint and a resumed run keeps it (shortening it only as above,
// never lengthening it), so a killed run resumes exactly.

export type PlanLimit = 'epochs' | 'max-minutes';

export interface IterationPlan {
  /** Iterations the run trains for. */
  totalIters: number;
  /** 0-based iterations from which lr is multiplied by gamma once more, ascending. */
  stepIters: number[];
  /** What bounds totalIters. */
  limit: PlanLimit;
  /** Set once the time budget has decided the plan (from then on it only shortens it, or lengthens it before any lr step is fed). */
  timeFitted?: boolean;
}

/**
 * Steps at `fractions` of `totalIters`, before its last iteration (so that every
 * step is taken), except that steps of `previous` below `fedIters` (already
 * passed to the trainer) are kept, and no new one falls before `fedIters`:
 * re-planning never changes the lr of an iteration already fed.
 */
export function placeSteps(fractions: readonly number[], totalIters: number, fedIters = 0, previous: readonly number[] = []): number[] {
  return fractions.map((f, k) => {
    const prev = previous[k];
    if (prev !== undefined && prev < fedIters) return prev;
    return Math.max(fedIters, Math.min(Math.round(f * totalIters), Math.max(1, totalIters - 1)));
  });
}

/** The plan without a time budget: epochs x iterations per epoch. */
export function countPlan(fractions: readonly number[], epochIters: number): IterationPlan {
  return { totalIters: epochIters, stepIters: placeSteps(fractions, epochIters), limit: 'epochs' };
}

export interface TimeFit {
  /** The whole run's budget and the seconds already spent, evaluations included. */
  budgetSeconds: number;
  elapsedSeconds: number;
  /** Iterations that have run (the ones fed beyond are still to pay for). */
  itersDone: number;
  /** Iterations fed to the trainer: the plan cannot end before them. */
  itersFed: number;
  /** Measured wall seconds per training iteration (data loading and checkpoints included). */
  secondsPerIter: number;
  /** One evaluation on the val split (0 without one). */
  evalSeconds: number;
  /** After the last evaluation: report, files, exit. */
  finishSeconds: number;
  /** Share of the remaining time planned for training: the rest absorbs a machine slowing down. */
  safety: number;
  itersPerEpoch: number;
  epochs: number;
  /** Evaluations at the ends of epochs that are multiples of this (and always one at the end). */
  intervalEpochs: number;
  /** No more than this (epochs x iterations per epoch). */
  capIters: number;
}

/** Evaluations before the final one that a run ending at `totalIters` still meets after `itersDone`. */
export function evaluationsAhead(t: Pick<TimeFit, 'itersDone' | 'itersPerEpoch' | 'epochs' | 'intervalEpochs'>, totalIters: number): number {
  let n = 0;
  for (let k = t.intervalEpochs; k < t.epochs; k += t.intervalEpochs) {
    const end = k * t.itersPerEpoch;
    if (end > t.itersDone && end < totalIters) n++;
  }
  return n;
}

/** The largest total iteration count whose remaining training and evaluations fit in the budget (>= itersFed). */
export function itersThatFit(t: TimeFit): number {
  const left = t.budgetSeconds - t.elapsedSeconds - t.evalSeconds - t.finishSeconds;
  const cost = (total: number) => ((total - t.itersDone) * t.secondsPerIter) / t.safety + evaluationsAhead(t, total) * t.evalSeconds;
  // cost() grows with total: the largest total with cost <= left, by bisection.
  let lo = t.itersFed;
  let hi = Math.max(lo, Math.min(t.capIters, t.itersDone + Math.ceil((Math.max(0, left) * t.safety) / Math.max(1e-9, t.secondsPerIter)) + 1));
  if (cost(hi) <= left) return hi;
  if (cost(lo) > left) return lo;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (cost(mid) <= left) lo = mid;
    else hi = mid;
  }
  return lo;
}

export interface BudgetOptions {
  fractions: readonly number[];
  /** The epochs as a plan (countPlan). */
  cap: IterationPlan;
  /** Seconds, and when they started counting (ms since the epoch). */
  budgetSeconds: number;
  startedAt: number;
  itersPerEpoch: number;
  epochs: number;
  intervalEpochs: number;
  /** Estimated seconds of one evaluation (0 without a val split). */
  evalSeconds: number;
  /** A resumed run's plan: kept, only ever shortened. */
  resumed?: IterationPlan | null;
  /** Steps run before the throughput counts (allocation, first-step costs): default 2. */
  warmSteps?: number;
  /** Steps measured before the time-fitted plan is decided: default 3 ... */
  measureSteps?: number;
  /** ... over at least this many seconds: default a tenth of the budget, at most 30. */
  measureSeconds?: number;
  finishSeconds?: number;
  safety?: number;
}

/** A decided plan grows only when at least this many times its length fits (no back and forth on noise). */
const GROW_MARGIN = 1.03;

/**
 * The time-budgeted plan of one run: feed it step completions and the time
 * spent outside training (evaluations), and ask it for the plan before each
 * feed. Until the plan is decided, it is the cap (or a resumed run's undecided
 * plan), whose steps lie far beyond the measurement.
 */
export class BudgetPlanner {
  plan: IterationPlan;
  evalSeconds: number;
  private readonly o: Required<Omit<BudgetOptions, 'resumed'>>;
  private pausedMs = 0;
  private mark: { steps: number; ms: number } | null = null;
  private last: { steps: number; ms: number } | null = null;
  private readonly mayGrow: boolean;

  constructor(o: BudgetOptions) {
    this.o = { warmSteps: 2, measureSteps: 3, measureSeconds: Math.min(30, o.budgetSeconds / 10), finishSeconds: 4, safety: 0.95, ...o } as Required<
      Omit<BudgetOptions, 'resumed'>
    >;
    this.plan = o.resumed ? { ...o.resumed, stepIters: [...o.resumed.stepIters] } : { ...o.cap, stepIters: [...o.cap.stepIters] };
    this.evalSeconds = o.evalSeconds;
    this.mayGrow = !o.resumed;
  }

  /** Wall time that is not training (an evaluation, a timing run): left out of the throughput. */
  pause(ms: number): void {
    this.pausedMs += ms;
  }

  /** A step finished: `stepsDone` iterations have run in this process's count. */
  stepDone(stepsDone: number, nowMs: number): void {
    const trainMs = nowMs - this.pausedMs;
    this.last = { steps: stepsDone, ms: trainMs };
    if (!this.mark) this.mark = { steps: stepsDone + this.o.warmSteps - 1, ms: NaN };
    if (stepsDone === this.mark.steps) this.mark.ms = trainMs;
  }

  /** Whether the time budget has decided the plan. */
  get decided(): boolean {
    return this.plan.timeFitted === true;
  }

  /** Measured wall seconds per iteration, or null before enough steps. */
  secondsPerIter(): number | null {
    const m = this.mark, l = this.last;
    if (!m || !l || !Number.isFinite(m.ms) || l.steps - m.steps < this.o.measureSteps) return null;
    return (l.ms - m.ms) / 1000 / (l.steps - m.steps);
  }

  /** Plans before feeding iteration `itersFed`: decides the plan, or shortens it; returns whether it changed. */
  replan(itersFed: number, itersDone: number, nowMs: number): boolean {
    const spi = this.secondsPerIter();
    if (spi === null) return false;
    if (!this.decided && (this.last!.ms - this.mark!.ms) / 1000 < this.o.measureSeconds) return false;
    const fit = itersThatFit({
      budgetSeconds: this.o.budgetSeconds, elapsedSeconds: (nowMs - this.o.startedAt) / 1000, itersDone, itersFed, secondsPerIter: spi,
      evalSeconds: this.evalSeconds, finishSeconds: this.o.finishSeconds, safety: this.o.safety, itersPerEpoch: this.o.itersPerEpoch,
      epochs: this.o.epochs, intervalEpochs: this.o.intervalEpochs, capIters: this.o.cap.totalIters,
    });
    // Once decided, a plan is shortened when the run falls behind it, and grows
    // only while none of its lr steps has been fed and the run is well ahead of
    // it (the measurement window was slow, or the machine sped up); a resumed
    // run's plan never grows, so a resumed run ends where the checkpoint's plan does.
    const base = this.plan.totalIters;
    const grows = this.decided && this.mayGrow && fit >= base * GROW_MARGIN && this.plan.stepIters.every((i) => i >= itersFed);
    if (this.decided && fit >= base && !grows) return false;
    let totalIters = grows ? fit : Math.min(base, fit);
    const limit: PlanLimit = totalIters < this.o.cap.totalIters ? 'max-minutes' : this.o.cap.limit;
    const stepIters = placeSteps(this.o.fractions, totalIters, itersFed, this.plan.stepIters);
    // The last lr step always happens: a run too far behind runs one iteration past its step.
    totalIters = Math.max(totalIters, ...stepIters.map((i) => i + 1));
    this.plan = { totalIters, stepIters, limit, timeFitted: true };
    return true;
  }
}
