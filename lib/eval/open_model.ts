// The model for `cornernet test` / `cornernet detect`: its architecture from
// --config (a recipe, a model preset, or a JSON file) or from the training
// checkpoint given as --weights, its weights loaded strictly by name.
import * as fs from 'fs';

import { loadModelConfig, type ModelConfig } from '../configs';
import { loadWeights } from '../io/weights';
import { Model } from '../model';
import { resolveTrainingBackend } from '../train/device';
import { recipes } from '../train/recipes';
import { resolveConfig } from '../train/resolve_config';

export interface OpenModelOptions {
  config?: string;
  weights: string;
  device?: string;
  /** The dataset's class count, when known: an architecture from a preset takes it. */
  numClasses?: number;
  log?: (line: string) => void;
}

function configFromSpec(spec: string): ModelConfig {
  if (recipes[spec]) return resolveConfig(spec).model;
  if (fs.existsSync(spec)) {
    const raw = JSON.parse(fs.readFileSync(spec, 'utf8')) as Record<string, unknown>;
    if ('model' in raw || 'extends' in raw) return resolveConfig(spec).model;
  }
  return loadModelConfig(spec);
}

export async function openModel(o: OpenModelOptions): Promise<{ model: Model; classNames: string[] | null; backend: string }> {
  const w = await loadWeights(o.weights);
  let cfg: ModelConfig;
  if (o.config) {
    cfg = configFromSpec(o.config);
    if (o.numClasses !== undefined && !w.modelConfig) cfg = { ...cfg, numClasses: o.numClasses };
  } else if (w.modelConfig) {
    cfg = w.modelConfig;
  } else {
    throw new Error(`--weights ${o.weights} carries no model config (not a cornernet-native checkpoint): name the architecture with --config`);
  }
  const backend = resolveTrainingBackend(o.device ?? 'auto', o.log, 'test');
  const model = new Model(cfg, { backend });
  try {
    model.loadStateDict(w.stateDict);
  } catch (e) {
    throw new Error(`--weights ${o.weights}: ${(e as Error).message}`);
  }
  return { model, classNames: w.classNames, backend };
}
