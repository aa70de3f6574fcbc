// Named model architectures. `hourglass104` is the reference detector;
// `hourglass52` its one-stack variant; `shapes-tiny` a model small enough to
// train on the synthetic shapes dataset in minutes on two CPU cores.
import { referenceModelDefaults, validateModelConfig, type ModelConfig } from './model_config';

export const modelPresets = {
  /** MMDetection's CornerNet HourglassNet-104: 201,035,212 parameters. */
  hourglass104: { ...referenceModelDefaults },
  /**
   * One stack of the same hourglass (CornerNet's "Hourglass-52"). Like the
   * reference, `inters` still holds one (unused) residual block with one stack.
   */
  hourglass52: { ...referenceModelDefaults, numStacks: 1 },
  /**
   * 128x128 inputs, 32x32 output maps, the 5 synthetic shape classes
   * (lib/data/synth). Three halvings (32 -> 4) give a receptive field covering
   * the image; widths of 32-64 and head widths of 32 make 792,416 parameters.
   */
  'shapes-tiny': {
    ...referenceModelDefaults,
    numStacks: 1,
    downsampleTimes: 3,
    stageChannels: [32, 48, 64, 64],
    stageBlocks: [1, 1, 1, 2],
    featChannel: 32,
    numClasses: 5,
    poolFeatChannels: 32,
    headFeatChannels: 32,
  },
} satisfies Record<string, ModelConfig>;

export type ModelPresetName = keyof typeof modelPresets;
export const modelPresetNames = Object.keys(modelPresets) as ModelPresetName[];

export function isModelPreset(name: string): name is ModelPresetName {
  return Object.prototype.hasOwnProperty.call(modelPresets, name);
}

/** A copy of the named preset (validated), or an Error listing the presets. */
export function modelPreset(name: string): ModelConfig {
  if (!isModelPreset(name)) throw new Error(`unknown model preset '${name}' (presets: ${modelPresetNames.join(', ')})`);
  const p = modelPresets[name];
  return validateModelConfig({ ...p, stageChannels: [...p.stageChannels], stageBlocks: [...p.stageBlocks] }, name);
}
