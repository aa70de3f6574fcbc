// The model for `cornernet test` / `cornernet detect` and loadDetector(): its
// architecture from --config (a recipe, a model preset, a JSON file, or from code
// a model config object) or from the training checkpoint given as --weights, its
// weights loaded strictly by name; the test pipeline's normalisation is the one
// the weights expect (the reference's, or the original CornerNet's for weights
// converted from it).
import * as fs from 'fs';

import { loadModelConfig, validateModelConfig, type ModelConfig } from '../configs';
import { REFERENCE_TEST, type TestTransformConfig } from '../data/transforms';
import { JsonFileError, readJsonFile } from '../io/json_file';
import { loadWeights, loadWeightsInto, weightsArchitecture } from '../io/weights';
import { Model } from '../model';
import { resolveTrainingBackend } from '../train/device';
import { recipes } from '../train/recipes';
import { resolveConfig } from '../train/resolve_config';

export interface OpenModelOptions {
  config?: string | ModelConfig;
  weights: string;
  device?: string;
  /** The dataset's class count, when known: an architecture from a preset takes it. */
  numClasses?: number;
  log?: (line: string) => void;
}

/** A model config from --config: a recipe, a model preset, or a JSON file (a whole config, or a model section). */
export function configFromSpec(spec: string): ModelConfig {
  if (recipes[spec]) return resolveConfig(spec).model;
  if (fs.existsSync(spec)) {
    let raw: unknown;
    try {
      raw = readJsonFile(spec);
    } catch (e) {
      throw e instanceof JsonFileError ? new Error(`--config ${e.message}`) : e;
    }
    if (raw !== null && typeof raw === 'object' && ('model' in raw || 'extends' in raw)) return resolveConfig(spec).model;
  }
  return loadModelConfig(spec);
}

export interface OpenedModel {
  model: Model;
  classNames: string[] | null;
  /** The dataset's category id of each class index, when the weights record them. */
  categoryIds: number[] | null;
  backend: string;
  /** The test pipeline for these weights. */
  transform: TestTransformConfig;
}

export async function openModel(o: OpenModelOptions): Promise<OpenedModel> {
  const w = await loadWeights(o.weights);
  const given = typeof o.config === 'object' ? validateModelConfig(o.config, 'config') : undefined;
  const spec = typeof o.config === 'string' ? o.config : undefined;
  const arch = given ?? weightsArchitecture(w, spec);
  let cfg: ModelConfig;
  if (typeof arch === 'string') {
    cfg = configFromSpec(arch);
    if (o.numClasses !== undefined && !w.modelConfig) cfg = { ...cfg, numClasses: o.numClasses };
  } else {
    cfg = arch;
  }
  const backend = resolveTrainingBackend(o.device ?? 'auto', o.log, 'test');
  const model = new Model(cfg, { backend });
  try {
    loadWeightsInto(model, w, given ? '(the model config object given)' : spec);
  } catch (e) {
    model.dispose();
    throw e;
  }
  if (w.input) o.log?.(`input normalisation of ${o.weights}: mean ${w.input.mean.map((v) => v.toFixed(3)).join('/')}, std ${w.input.std.map((v) => v.toFixed(3)).join('/')} (${w.input.source})`);
  const transform = w.input ? { ...REFERENCE_TEST, mean: w.input.mean, std: w.input.std } : REFERENCE_TEST;
  return { model, classNames: w.classNames, categoryIds: w.categoryIds, backend, transform };
}
