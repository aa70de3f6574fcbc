// The public API of cornernet-native.
export { info, formatInfo, version, type EngineInfo } from './info';
export { type TensorData } from './native';
export * as ops from './ops';
export * as cocoEval from './eval/index';
export * as data from './data';
export { decode, decodeAsync, decodeMultiScale, softNms, softNmsMerge, flipped, centerPadMeta, type DecodeArgs, type DecodeOptions, type DecodedImage, type Detections, type ImageMeta, type CornerHeadOutputs, type FlippedHeadOutputs, type SoftNmsArgs, type SoftNmsResult, type SoftNmsMergeArgs, type SoftNmsMergeResult, type ScaleView, type MultiScaleOptions } from './decode';
export {
  Model,
  formatSummary,
  headOutputNames,
  type HeadOutputName,
  type HeadOutputs,
  type StateKey,
  type StateTensor,
  type StateDict,
  type LoadReport,
  type ModelOptions,
  type ForwardOptions,
  type ModelSummary,
} from './model';
export {
  modelPreset,
  modelPresetNames,
  modelPresets,
  validateModelConfig,
  loadModelConfig,
  referenceModelDefaults,
  type ModelConfig,
  type ModelPresetName,
} from './configs';
export { readNpy, writeNpy } from './io/npy';
export { loadWeights, type LoadedWeights } from './io/weights';
export { importWeights, formatImportReport, type ImportOptions, type ImportResult } from './io/import_weights';
export { type ImportReport, type InputNormalisation, type KeyScheme } from './io/torch_import';
