// `train()` as the package exports it: the loop `cornernet train` runs
// (loop.ts), from code. Quiet unless asked (no progress bar, no log lines: the
// caller gets plain progress events instead), cancellable with an AbortSignal
// (the step in flight ends, a checkpoint is saved, the promise resolves with
// `stopped: 'interrupted'`; `resume` continues it).
import { Writable } from 'stream';

import { train as runTraining, type TrainOptions, type TrainProgressEvent, type TrainResult } from './loop';
import type { ConfigObject } from './overrides';

export interface TrainCallOptions extends Omit<TrainOptions, 'config' | 'progressStream' | 'tty' | 'log'> {
  /** Stops the run after the step in flight and saves a checkpoint; already aborted: nothing starts. */
  signal?: AbortSignal;
  /** Each training step, evaluated val image and checkpoint, as a plain object. */
  onProgress?: (event: TrainProgressEvent) => void;
  /** The run's log lines (device chosen, data problems, COCO summary); default: none. */
  log?: (line: string) => void;
  /** A progress bar (on a TTY) or periodic progress lines go here; default: none. */
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force the bar on or off (default: on when progressStream is a TTY). */
  tty?: boolean;
}

const discard = () => new Writable({ write: (_chunk, _encoding, done) => done() });

/**
 * Trains CornerNet. `config`: a recipe name ('shapes-tiny', 'hourglass104', ...),
 * a JSON config file, or a config object (complete, or `extends` a recipe and
 * overrides some keys). Resolves with the run's result: work dir, iterations,
 * why it stopped, last checkpoint, final COCO evaluation.
 */
export async function train(config: string | ConfigObject, options: TrainCallOptions = {}): Promise<TrainResult> {
  options.signal?.throwIfAborted();
  return runTraining({ ...options, config, progressStream: options.progressStream ?? discard() });
}
