// Model configs: the schema and the named presets.
export { modelConfigSchema, referenceModelDefaults, validateModelConfig, type ModelConfig } from './model_config';
export { isModelPreset, modelPreset, modelPresetNames, modelPresets, type ModelPresetName } from './presets';
export { loadModelConfig } from './load';
