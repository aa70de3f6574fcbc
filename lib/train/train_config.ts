// The training half of a config: optimizer, schedule, loop, checkpoints,
// evaluation, device. Plain data, validated with zod; every error names the key
// at fault and what was expected. The model and data sections are validated by
// their own modules (lib/configs, lib/data).
import { z, type ZodError } from 'zod';

import { shortJson } from '../io/json_file';

const positiveInt = z.number().int().positive();

export const trainSectionSchema = z
  .object({
    epochs: positiveInt,
    /** Images per replica per iteration. */
    batchSize: positiveInt,
    /** Data-parallel model replicas, each with batchSize images and its own BN statistics: on the CPU side by side with a share of the threads each; with CUDA one per GPU (replica r on GPU r mod the GPUs). */
    replicas: positiveInt,
    /** Data-loading workers and batches prefetched ahead of the trainer. */
    workers: z.number().int().min(0),
    prefetch: positiveInt,
    seed: z.number().int().min(0),
    /** Stop early after this many iterations / minutes (null: run the schedule). */
    maxIters: positiveInt.nullable(),
    maxMinutes: z.number().positive().nullable(),
    /** Fine-tuning: start from these weights (safetensors or .pth), matching tensors by name and shape (null: the seeded initialisation). */
    loadFrom: z.string().min(1).nullable().default(null),
  })
  .strict();

export const optimizerSchema = z
  .object({
    type: z.literal('adam'),
    lr: z.number().positive(),
    betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]),
    eps: z.number().positive(),
    weightDecay: z.number().min(0),
    /** Clip the total L2 norm of the gradients to this (null: no clipping). */
    gradClip: z.number().positive().nullable(),
  })
  .strict();

export const scheduleSchema = z
  .object({
    /** Epoch indices (0-based) at which lr is multiplied by gamma. */
    steps: z.array(z.number().int().min(0)),
    /**
     * Instead of `steps`: fractions of the run's planned iterations (lib/train/budget.ts: epochs, maxIters
     * or the iterations that fit in maxMinutes, whichever is fewest) at which lr is multiplied by gamma.
     * null: the epoch steps, and maxMinutes only stops the run.
     */
    stepFractions: z
      .array(z.number().gt(0).lt(1))
      .refine((a) => a.every((f, k) => k === 0 || f > a[k - 1]!), 'expected ascending fractions')
      .nullable()
      .default(null),
    gamma: z.number().positive(),
    warmupIters: z.number().int().min(0),
    warmupRatio: z.number().positive().max(1),
    /**
     * 'step': lr x gamma at `steps` / `stepFractions`; 'linear' / 'cosine': lr decays over the run's planned
     * iterations (epochs, or with `stepFractions: []` what fits in maxMinutes) to lr x minLrRatio, without steps.
     */
    annealing: z.enum(['step', 'linear', 'cosine']).default('step'),
    minLrRatio: z.number().min(0).max(1).default(0),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.annealing === 'step') return;
    const why = `an annealed schedule ('${s.annealing}') decays lr over the whole run and takes no lr steps`;
    if (s.steps.length > 0) ctx.addIssue({ code: 'custom', path: ['steps'], message: `${why}: expected [], or annealing 'step'` });
    if (s.stepFractions && s.stepFractions.length > 0)
      ctx.addIssue({ code: 'custom', path: ['stepFractions'], message: `${why}: expected [] (the run fitted to train.maxMinutes) or null (planned in epochs)` });
  });

export const checkpointSchema = z
  .object({
    /** Also save every N iterations (null: only at epoch ends and on interrupt). */
    intervalIters: positiveInt.nullable(),
    /** Keep the last K checkpoints. */
    keep: positiveInt,
  })
  .strict();

export const evaluationSchema = z
  .object({
    /** Evaluate on the val split every N epochs, and always at the end. */
    intervalEpochs: positiveInt,
    flip: z.boolean(),
  })
  .strict();

export const trainConfigSchema = z
  .object({
    device: z.string().regex(/^(cpu|cuda(:\d+)?|cuda-emu|auto)$/, 'expected cpu, cuda, cuda:N, cuda-emu or auto'),
    train: trainSectionSchema,
    optimizer: optimizerSchema,
    schedule: scheduleSchema,
    checkpoint: checkpointSchema,
    evaluation: evaluationSchema,
    log: z.object({ intervalIters: positiveInt }).strict(),
  })
  .passthrough();

export type TrainConfig = z.infer<typeof trainConfigSchema>;

/** The reference recipe (cornernet_hourglass104_mstest_8x6_210e_coco), per replica. */
export const referenceTrainConfig: TrainConfig = {
  device: 'auto',
  train: { epochs: 210, batchSize: 6, replicas: 1, workers: 3, prefetch: 4, seed: 0, maxIters: null, maxMinutes: null, loadFrom: null },
  optimizer: { type: 'adam', lr: 5e-4, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, gradClip: 35 },
  schedule: { steps: [180], stepFractions: null, gamma: 0.1, warmupIters: 500, warmupRatio: 1 / 3, annealing: 'step', minLrRatio: 0 },
  checkpoint: { intervalIters: null, keep: 3 },
  evaluation: { intervalEpochs: 1, flip: true },
  log: { intervalIters: 50 },
};

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : shortJson(v);
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let node = root;
  for (const p of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[p];
  }
  return node;
}

/** One line per problem: "<where>.<key.path>: <expected>, got <value>". */
export function formatConfigError(err: ZodError, input: unknown, where = 'config'): string {
  return err.issues
    .map((i) => {
      const key = [where, ...i.path.map(String)].join('.');
      if (i.code === 'unrecognized_keys') return `${key}: unknown key(s) ${i.keys.map((k) => `'${k}'`).join(', ')}`;
      return `${key}: ${i.message}, got ${describe(valueAt(input, i.path))}`;
    })
    .join('\n');
}

/** Validates the training sections of a resolved config; throws one Error listing every problem. */
export function validateTrainConfig(input: unknown, where = 'config'): TrainConfig {
  const r = trainConfigSchema.safeParse(input);
  if (!r.success) throw new Error(`invalid config:\n${formatConfigError(r.error, input, where)}`);
  return r.data;
}
