// The model section of a config: the architecture of a CornerNet (HourglassNet
// backbone + CornerHead) as MMDetection's constructor arguments, in camelCase.
// Omitted keys take the reference's values (HourglassNet-104, 80 classes); the
// reference's own snake_case names (num_stacks, ...) are accepted too, so a
// config exported from MMDetection or a checkpoint's metadata loads as is.
import { z } from 'zod';

import { formatConfigError } from '../train/train_config';

const count = z.number().int().positive();

export const modelConfigSchema = z
  .object({
    /** Hourglass modules; the head runs on each one's output (intermediate supervision). */
    numStacks: count.max(16),
    /** Halvings inside each hourglass module. */
    downsampleTimes: count.max(10),
    /** Channels per hourglass depth (more than downsampleTimes entries; [0] also sets the stem). */
    stageChannels: z.array(count.max(8192)).min(2),
    /** Residual blocks per hourglass depth, same length as stageChannels. */
    stageBlocks: z.array(count.max(64)).min(2),
    /** Channels of each stack's output feature (the head's input). */
    featChannel: count.max(8192),
    numClasses: count.max(100000),
    cornerEmbChannels: count.max(64),
    /** BiCornerPool's inner width (the reference fixes 128). */
    poolFeatChannels: count.max(8192),
    /** Hidden width of the heatmap/embedding/offset branches (the reference fixes 256). */
    headFeatChannels: count.max(8192),
    bnEps: z.number().positive().lt(1),
    bnMomentum: z.number().min(0).max(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.stageChannels.length <= c.downsampleTimes)
      ctx.addIssue({
        code: 'custom',
        path: ['stageChannels'],
        message: `needs more than downsampleTimes (${c.downsampleTimes}) entries, has ${c.stageChannels.length}`,
      });
    if (c.stageBlocks.length !== c.stageChannels.length)
      ctx.addIssue({
        code: 'custom',
        path: ['stageBlocks'],
        message: `needs as many entries as stageChannels (${c.stageChannels.length}), has ${c.stageBlocks.length}`,
      });
    if (c.stageChannels[0] !== undefined && c.stageChannels[0] < 2)
      ctx.addIssue({ code: 'custom', path: ['stageChannels', 0], message: 'must be at least 2 (the stem halves it)' });
  });

export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** MMDetection's defaults for HourglassNet + CornerHead: HourglassNet-104, COCO's 80 classes. */
export const referenceModelDefaults: Readonly<ModelConfig> = Object.freeze({
  numStacks: 2,
  downsampleTimes: 5,
  stageChannels: [256, 256, 384, 384, 384, 512],
  stageBlocks: [2, 2, 2, 2, 2, 4],
  featChannel: 256,
  numClasses: 80,
  cornerEmbChannels: 1,
  poolFeatChannels: 128,
  headFeatChannels: 256,
  bnEps: 1e-5,
  bnMomentum: 0.1,
});

// The reference's keyword names; num_feat_levels must equal num_stacks (the head
// has one level per stack) and is checked, not stored.
const referenceNames: Record<string, keyof ModelConfig> = {
  num_stacks: 'numStacks',
  downsample_times: 'downsampleTimes',
  stage_channels: 'stageChannels',
  stage_blocks: 'stageBlocks',
  feat_channel: 'featChannel',
  num_classes: 'numClasses',
  corner_emb_channels: 'cornerEmbChannels',
  pool_feat_channels: 'poolFeatChannels',
  head_feat_channels: 'headFeatChannels',
  bn_eps: 'bnEps',
  bn_momentum: 'bnMomentum',
};

/**
 * Validates a model config (a partial one is completed with the reference's
 * defaults). Throws one Error listing every problem, each naming its key as
 * `<where>.<key>`.
 */
export function validateModelConfig(input: unknown, where = 'model'): ModelConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new Error(`invalid model config: ${where} must be an object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`);
  const camel: Record<string, unknown> = {};
  const problems: string[] = [];
  let featLevels: unknown;
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
    if (k === 'num_feat_levels' || k === 'numFeatLevels') {
      featLevels = v;
      continue;
    }
    const name = referenceNames[k] ?? k;
    if (name in camel) problems.push(`${where}.${k}: given twice (as '${name}' and as '${k}')`);
    camel[name] = v;
  }
  const merged = { ...referenceModelDefaults, ...camel };
  const r = modelConfigSchema.safeParse(merged);
  if (!r.success) problems.push(formatConfigError(r.error, merged, where));
  if (featLevels !== undefined && featLevels !== merged.numStacks)
    problems.push(`${where}.numFeatLevels: must equal numStacks (${String(merged.numStacks)}): the head has one level per stack, got ${JSON.stringify(featLevels)}`);
  if (problems.length || !r.success) throw new Error(`invalid model config:\n${problems.join('\n')}`);
  return r.data;
}
