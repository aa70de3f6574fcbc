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
export {
  loadDetector,
  Detector,
  type DetectorOptions,
  type DetectorInput,
  type Detection,
  type ImageDetections,
  type CornerHeatmaps,
  type RawPixels,
} from './detector';
export { train, type TrainCallOptions } from './train/train_api';
export type { TrainProgressEvent, TrainStepEvent, TrainEvalEvent, TrainCheckpointEvent, TrainResult, StopReason, EvalResult } from './train/loop';
export type { ResolvedConfig } from './train/resolve_config';
export { DisposedError } from './lifecycle';
export { importWeights, formatImportReport, type ImportOptions, type ImportResult } from './io/import_weights';
export { type ImportReport, type InputNormalisation, type KeyScheme } from './io/torch_import';
