// A CornerNet small enough for loops of a thousand detections (20,254
// parameters: one stack, two halvings, 8 channels), its weights as initialised
// with the architecture in the file's metadata, and a small PNG to detect on.
import * as path from 'path';

import sharp from 'sharp';

import { referenceModelDefaults, type ModelConfig } from '../../lib/configs';
import { saveSafetensors } from '../../lib/io/safetensors';
import { Model } from '../../lib/model';

export const MICRO_CONFIG: ModelConfig = {
  ...referenceModelDefaults,
  numStacks: 1,
  downsampleTimes: 2,
  stageChannels: [8, 8, 8],
  stageBlocks: [1, 1, 1],
  featChannel: 8,
  numClasses: 2,
  poolFeatChannels: 8,
  headFeatChannels: 8,
};

/** Writes `micro.safetensors` and `micro.png` (40 x 30, a fixed pattern) into `dir`. */
export async function writeMicroFixture(dir: string): Promise<{ weights: string; image: string }> {
  const weights = path.join(dir, 'micro.safetensors');
  const model = new Model(MICRO_CONFIG, { seed: 3 });
  saveSafetensors(weights, Object.entries(model.stateDict()), { config: JSON.stringify(MICRO_CONFIG) });
  model.dispose();
  const image = path.join(dir, 'micro.png');
  const px = Buffer.alloc(40 * 30 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37) % 251;
  await sharp(px, { raw: { width: 40, height: 30, channels: 3 } }).png().toFile(image);
  return { weights, image };
}
