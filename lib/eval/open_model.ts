// The model for `cornernet test` / `cornernet detect` and loadDetector(): its
// architecture from --config (a recipe, a model preset, a JSON file, or from code
// a model config object) or from the training checkpoint given as --weights, its
// weights loaded strictly by name.
import * as fs from 'fs';

import { loadModelConfig, validateModelConfig, type ModelConfig } from '../configs';
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

function configFromSpec(spec: string): ModelConfig {
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

export async function openModel(o: OpenModelOptions): Promise<{ model: Model; classNames: string[] | null; backend: string }> {
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
  return { model, classNames: w.classNames, backend };
}
