// Timing the engine's trainer (lib/train/native_trainer.ts) on synthetic,
// in-memory batches: what a training step costs with no data pipeline in the
// way. Shared by bench/model.ts (hourglass104, one step at a time) and
// bench/train.ts (shapes-tiny, steps queued as the training loop queues them).
import { NativeTrainer, type NativeTrainerOptions, type StepEvent, type TrainBatch, type TrainerEvent } from '../lib/train/native_trainer';
import { filled } from './harness';
import { Rng } from './rng';

/**
 * `n` images of size x size (values in [-0.5, 0.5), like normalised pixels)
 * with `boxesPerImage` boxes each, of 1/8 to 1/2 of the side, random classes.
 */
export function syntheticBatch(n: number, size: number, numClasses: number, boxesPerImage: number, seed: number, iter = 0): TrainBatch {
  const rng = new Rng(seed);
  const boxes: Float32Array[] = [];
  const labels: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const b = new Float32Array(4 * boxesPerImage);
    const l = new Int32Array(boxesPerImage);
    for (let k = 0; k < boxesPerImage; k++) {
      const w = size * (0.125 + 0.375 * rng.next());
      const h = size * (0.125 + 0.375 * rng.next());
      const x = (size - w) * rng.next();
      const y = (size - h) * rng.next();
      b.set([x, y, x + w, y + h], 4 * k);
      l[k] = Math.floor(rng.next() * numClasses) % numClasses;
    }
    boxes.push(b);
    labels.push(l);
  }
  return { images: { data: filled(n * 3 * size * size, seed), shape: [n, 3, size, size] }, boxes, labels, lr: 1e-4, iter };
}

export interface TrainerTiming {
  /** Timed steps. */
  steps: number;
  /** Wall seconds of each timed step, from feed to its event (one-by-one), or of all of them (queued). */
  wallSeconds: number[];
  /** The trainer thread's own seconds per timed step (StepEvent.seconds). */
  stepSeconds: number[];
  /** CPU seconds of this process (every thread) per timed step, mean. */
  cpuSeconds: number;
  /** Total loss of the last step (a sanity figure: finite). */
  lastLoss: number;
}

/** Events of one trainer in arrival order; a failed step rejects. */
class Events {
  private readonly ready: TrainerEvent[] = [];
  private readonly waiting: ((e: TrainerEvent) => void)[] = [];
  push = (e: TrainerEvent): void => {
    const w = this.waiting.shift();
    if (w) w(e);
    else this.ready.push(e);
  };
  async nextStep(): Promise<StepEvent> {
    const e = this.ready.shift() ?? (await new Promise<TrainerEvent>((r) => this.waiting.push(r)));
    if (e.type === 'step') return e;
    if (e.type === 'error') throw new Error(`training step ${e.iter} failed: ${e.message}`);
    if (e.type === 'nonfinite') throw new Error(`training step ${e.iter}: the ${e.term ?? '?'} loss is not finite`);
    throw new Error('the trainer was cancelled');
  }
}

/**
 * Runs `warmup` untimed steps, then `timed` steps (`onTimed` is called between
 * the two, for counters of the timed steps alone). 'one-by-one' feeds a step
 * only when the previous one has reported (per-step latency); 'queued' feeds
 * every timed step at once, so the trainer thread never waits (throughput).
 */
export async function timeTrainerSteps(
  opts: NativeTrainerOptions,
  batch: (iter: number) => TrainBatch,
  o: { warmup: number; timed: number; mode: 'one-by-one' | 'queued'; onTimed?: () => void }
): Promise<TrainerTiming> {
  const events = new Events();
  const trainer = new NativeTrainer(opts, events.push);
  const feed = (iter: number) => trainer.feed({ ...batch(iter), iter });
  try {
    for (let i = 0; i < o.warmup; i++) {
      feed(i);
      await events.nextStep();
    }
    const wallSeconds: number[] = [];
    const stepSeconds: number[] = [];
    let lastLoss = NaN;
    o.onTimed?.();
    const cpu0 = process.cpuUsage();
    if (o.mode === 'one-by-one') {
      for (let i = 0; i < o.timed; i++) {
        const t0 = performance.now();
        feed(o.warmup + i);
        const e = await events.nextStep();
        wallSeconds.push((performance.now() - t0) / 1000);
        stepSeconds.push(e.seconds);
        lastLoss = e.total;
      }
    } else {
      const t0 = performance.now();
      for (let i = 0; i < o.timed; i++) feed(o.warmup + i);
      for (let i = 0; i < o.timed; i++) {
        const e = await events.nextStep();
        stepSeconds.push(e.seconds);
        lastLoss = e.total;
      }
      wallSeconds.push((performance.now() - t0) / 1000);
    }
    const cpu = process.cpuUsage(cpu0);
    return { steps: o.timed, wallSeconds, stepSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 / o.timed, lastLoss };
  } finally {
    await trainer.close();
  }
}
