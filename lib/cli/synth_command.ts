import type { CommandModule } from 'yargs';

import { DEFAULT_SYNTH } from '../data/synth_cache';
import { SYNTH_LIMITS, writeSynthDataset } from '../data/synth/write_dataset';
import { checkNumericFlags, nonNegativeInteger, positiveInteger } from './numeric_flags';

interface SynthArgs {
  out: string;
  train: number;
  val: number;
  size: number;
  seed: number;
  'max-objects': number;
}

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Write a synthetic dataset of coloured shapes in COCO layout (JPEG images + instances JSON)',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'Output folder (annotations/, train/, val/)' })
      .option('train', { type: 'number', default: DEFAULT_SYNTH.train, describe: 'Training images' })
      .option('val', { type: 'number', default: DEFAULT_SYNTH.val, describe: 'Validation images' })
      .option('size', { type: 'number', default: DEFAULT_SYNTH.size, describe: 'Image side in pixels' })
      .option('seed', { type: 'number', default: DEFAULT_SYNTH.seed, describe: 'Random seed (same seed, same bytes)' })
      .option('max-objects', { type: 'number', default: 4, describe: 'Most objects in one image' })
      .check(
        checkNumericFlags({
          train: nonNegativeInteger,
          val: nonNegativeInteger,
          size: { integer: true, min: SYNTH_LIMITS.minSize, max: SYNTH_LIMITS.maxSize },
          seed: nonNegativeInteger,
          'max-objects': positiveInteger,
        }),
      ),
  handler: async (a) => {
    const t0 = Date.now();
    const r = await writeSynthDataset(a.out, { train: a.train, val: a.val, size: a.size, seed: a.seed, maxObjects: a['max-objects'] });
    process.stdout.write(
      `wrote ${r.out}: train ${r.images.train} images / ${r.annotations.train} boxes, val ${r.images.val} images / ${r.annotations.val} boxes ` +
        `(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`
    );
  },
};
