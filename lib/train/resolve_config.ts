// From `--config PRESET|FILE`, command-line flags and `--set key=value` to one
// validated training config: the preset (or the file, which may name a preset
// to extend with "extends"), then the flags, then the overrides, in that order.
import * as fs from 'fs';
import * as path from 'path';

import { z } from 'zod';

import { validateModelConfig, type ModelConfig } from '../configs';
import { SYNTH_KINDS } from '../data/synth/write_dataset';
import { REFERENCE_AUGMENT } from '../data/transforms';
import { JsonFileError, readJsonFile, shortJson } from '../io/json_file';
import { applyOverrides, mergeConfig, type ConfigObject } from './overrides';
import { recipeNames, recipes } from './recipes';
import { formatConfigError, trainConfigSchema, type TrainConfig } from './train_config';

const nullableString = z.string().min(1).nullable();

export const dataSchema = z
  .object({
    root: nullableString,
    synth: z
      .object({ kind: z.enum(SYNTH_KINDS).optional(), train: z.number().int().positive(), val: z.number().int().min(0), size: z.number().int().min(32), seed: z.number().int().min(0) })
      .strict(),
    trainAnnotations: nullableString,
    trainImages: nullableString,
    valAnnotations: nullableString,
    valImages: nullableString,
    // Above 2048 (4x the reference's 511) one image's activations alone outgrow any machine's memory.
    inputSize: z.number().int().min(32).max(2048),
    workers: z.number().int().positive(),
    // MiB of decoded training images kept between epochs (lib/data/decoded_cache.ts); absent in configs older than the key.
    decodedCacheMB: z.number().min(0).default(0),
    // The train pipeline's random choices (lib/data/transforms.ts); absent in configs older than the key: the reference's.
    augment: z
      .object({
        photometric: z.boolean(),
        cropRatios: z.array(z.number().positive().max(4)).min(1),
        flipRatio: z.number().min(0).max(1),
      })
      .strict()
      .default({ ...REFERENCE_AUGMENT, cropRatios: [...REFERENCE_AUGMENT.cropRatios] }),
    classes: z.enum(['dataset', 'config']),
    maxValImages: z.number().int().positive().nullable(),
  })
  .strict();

export type DataConfig = z.infer<typeof dataSchema>;

export interface ResolvedConfig extends TrainConfig {
  name: string;
  model: ModelConfig;
  data: DataConfig;
}

export interface ConfigFlags {
  data?: string;
  device?: string;
  replicas?: number;
  maxIters?: number;
  maxMinutes?: number;
  seed?: number;
  /** Fine-tuning: train.loadFrom (resolved to an absolute path). */
  loadFrom?: string;
  set?: readonly string[];
}

/**
 * A config object as a file or the API gives it: complete, or `"extends": "<preset>"`
 * with the keys it overrides. `where` names it in errors; `name` is used when it has none.
 */
function fromConfigObject(raw: unknown, where: string, name: string): ConfigObject {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where}: expected a JSON object`);
  const obj = raw as ConfigObject;
  const base = obj.extends;
  if (base === undefined) return { name, ...obj };
  if (typeof base !== 'string' || !recipes[base]) throw new Error(`${where}: "extends" must name a preset (${recipeNames.join(', ')}), got ${JSON.stringify(base)}`);
  const { extends: _e, ...rest } = obj;
  void _e;
  return mergeConfig({ ...recipes[base]!(), name }, rest);
}

function readConfigFile(file: string): ConfigObject {
  let raw: unknown;
  try {
    raw = readJsonFile(file);
  } catch (e) {
    throw e instanceof JsonFileError ? new Error(`--config ${e.message}`) : e;
  }
  return fromConfigObject(raw, `--config ${file}`, path.basename(file, '.json'));
}

/**
 * The config before validation: preset, file or object (from code; named after
 * the preset it extends when it has no name), then flags, then --set.
 */
export function composeConfig(spec: string | ConfigObject, flags: ConfigFlags = {}): ConfigObject {
  let c: ConfigObject;
  if (typeof spec !== 'string') {
    const base = spec !== null && typeof spec === 'object' ? spec.extends : undefined;
    c = fromConfigObject(spec, 'config', typeof base === 'string' ? base : 'custom');
  } else if (recipes[spec]) c = recipes[spec]!();
  else if (spec.endsWith('.json') || fs.existsSync(spec)) c = readConfigFile(spec);
  else throw new Error(`--config ${spec}: not a preset (${recipeNames.join(', ')}) nor a JSON file`);
  const sets: string[] = [];
  if (flags.data !== undefined) sets.push(`data.root=${JSON.stringify(path.resolve(flags.data))}`);
  if (flags.device !== undefined) sets.push(`device=${JSON.stringify(flags.device)}`);
  if (flags.replicas !== undefined) sets.push(`train.replicas=${flags.replicas}`);
  if (flags.maxIters !== undefined) sets.push(`train.maxIters=${flags.maxIters}`);
  if (flags.maxMinutes !== undefined) sets.push(`train.maxMinutes=${flags.maxMinutes}`);
  if (flags.seed !== undefined) sets.push(`train.seed=${flags.seed}`);
  if (flags.loadFrom !== undefined) sets.push(`train.loadFrom=${JSON.stringify(path.resolve(flags.loadFrom))}`);
  return applyOverrides(c, [...sets, ...(flags.set ?? [])]);
}

/** Validates every section, naming each bad key. */
export function validateResolvedConfig(c: ConfigObject): ResolvedConfig {
  const problems: string[] = [];
  const t = trainConfigSchema.safeParse(c);
  if (!t.success) problems.push(formatConfigError(t.error, c));
  const d = dataSchema.safeParse(c.data);
  if (!d.success) problems.push(formatConfigError(d.error, c.data, 'config.data'));
  let model: ModelConfig | undefined;
  try {
    model = validateModelConfig(c.model, 'config.model');
  } catch (e) {
    problems.push((e as Error).message);
  }
  const known = new Set(['name', 'model', 'data', ...Object.keys(trainConfigSchema.shape)]);
  const unknown = Object.keys(c).filter((k) => !known.has(k));
  if (unknown.length) problems.push(`config: unknown key(s) ${unknown.map((k) => `'${k}'`).join(', ')} (expected ${[...known].join(', ')})`);
  if (typeof c.name !== 'string' || !c.name) problems.push(`config.name: expected a non-empty string, got ${shortJson(c.name)}`);
  if (problems.length) throw new Error(`invalid config:\n${problems.join('\n')}`);
  return { ...(t.data as TrainConfig), name: c.name as string, model: model!, data: d.data! };
}

export function resolveConfig(spec: string | ConfigObject, flags: ConfigFlags = {}): ResolvedConfig {
  return validateResolvedConfig(composeConfig(spec, flags));
}
