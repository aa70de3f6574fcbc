// `--config PRESET|FILE`: a preset name, or a JSON file holding a model config
// (either the whole object or under a "model" key, as in a full training config).
import * as fs from 'fs';

import { JsonFileError, readJsonFile } from '../io/json_file';
import { validateModelConfig, type ModelConfig } from './model_config';
import { isModelPreset, modelPreset, modelPresetNames } from './presets';

export function loadModelConfig(spec: string): ModelConfig {
  if (isModelPreset(spec)) return modelPreset(spec);
  if (!fs.existsSync(spec))
    throw new Error(`model config '${spec}' is neither a preset (${modelPresetNames.join(', ')}) nor an existing file`);
  let parsed: unknown;
  try {
    parsed = readJsonFile(spec);
  } catch (e) {
    throw e instanceof JsonFileError ? new Error(`model config file ${e.message}`) : e;
  }
  const hasModelKey = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) && 'model' in parsed;
  const section = hasModelKey ? (parsed as { model: unknown }).model : parsed;
  try {
    return validateModelConfig(section, hasModelKey ? 'model' : 'config');
  } catch (e) {
    throw new Error(`model config file ${spec}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
