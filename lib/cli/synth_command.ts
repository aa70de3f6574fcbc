import type { CommandModule } from 'yargs';

import { DEFAULT_SYNTH } from '../data/synth_cache';
import { SYNTH_KINDS, SYNTH_LIMITS, writeSynthDataset, type SynthKind } from '../data/synth/write_dataset';
import { checkNumericFlags, nonNegativeInteger, positiveInteger } from './numeric_flags';

interface SynthArgs {
  kind: SynthKind;
  out: string;
  train: number;
  val: number;
  size: number | undefined;
  seed: number;
  'max-objects': number | undefined;
}

/** The default image side of each kind ('varied': the mean side, 112-176 px at 144). */
const DEFAULT_SIZE: Record<SynthKind, number> = { shapes: DEFAULT_SYNTH.size, varied: 144 };

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Write a synthetic dataset of coloured shapes in COCO layout (JPEG images + instances JSON)',
  builder: (y) =>
    y
      .option('kind', {
        choices: SYNTH_KINDS,
        default: 'shapes' as SynthKind,
        describe: 'shapes: the default job\'s data (square images, 5 shapes, ids 1-5, 1-4 objects); varied: images of 112-176 px ' +
          '(at --size 144) with stars, hexagons, ellipses and arrows (ids 3, 7, 11, 20), 2-5 objects, more occlusion, noisy gradients',
      })
      .option('out', { type: 'string', demandOption: true, describe: 'Output folder (annotations/, train/, val/)' })
      .option('train', { type: 'number', default: DEFAULT_SYNTH.train, describe: 'Training images' })
      .option('val', { type: 'number', default: DEFAULT_SYNTH.val, describe: 'Validation images' })
      .option('size', { type: 'number', describe: `Image side in pixels (varied: the mean side); default ${DEFAULT_SIZE.shapes}, varied ${DEFAULT_SIZE.varied}` })
      .option('seed', { type: 'number', default: DEFAULT_SYNTH.seed, describe: 'Random seed (same seed, same bytes)' })
      .option('max-objects', { type: 'number', describe: 'Most objects in one image (default: shapes 4, varied 5)' })
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
    const r = await writeSynthDataset(a.out, {
      kind: a.kind, train: a.train, val: a.val, size: a.size ?? DEFAULT_SIZE[a.kind], seed: a.seed,
      ...(a['max-objects'] !== undefined ? { maxObjects: a['max-objects'] } : {}),
    });
    process.stdout.write(
      `wrote ${r.out}: train ${r.images.train} images / ${r.annotations.train} boxes, val ${r.images.val} images / ${r.annotations.val} boxes ` +
        `(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`
    );
  },
};
