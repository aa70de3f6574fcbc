// The reduced training job the train tests share: the default job's model on a
// 32-image synthetic set of 64 px, 8 iterations of 4 images per epoch, steps of
// about 0.1 s on a CPU.
import { Writable } from 'stream';

// 32 training images of 64 px, 8 val images: 8 iterations of 4 per epoch.
export const SMALL = [
  'data.synth.train=32', 'data.synth.val=8', 'data.synth.size=64', 'data.inputSize=64', 'data.workers=2',
  'train.batchSize=4', 'train.epochs=2', 'evaluation.flip=false', 'evaluation.intervalEpochs=1', 'log.intervalIters=1',
  'schedule.warmupIters=2', 'schedule.steps=[1]',
];

/** The synthetic set SMALL trains on (ensureSynthDataset's parameters). */
export const SMALL_SYNTH = { train: 32, val: 8, size: 64, seed: 0 };

/** Collects a run's progress output. */
export class Sink extends Writable {
  text = '';
  override _write(c: Buffer, _e: string, cb: () => void) {
    this.text += c.toString();
    cb();
  }
}
