// The public API of cornernet-native.
export { info, formatInfo, version, type EngineInfo } from './info';
export { type TensorData } from './native';
export * as ops from './ops';
export * as cocoEval from './eval/index';
export * as data from './data';
export { decode, decodeAsync, decodeMultiScale, softNms, softNmsMerge, flipped, centerPadMeta, type DecodeArgs, type DecodeOptions, type DecodedImage, type Detections, type ImageMeta, type CornerHeadOutputs, type FlippedHeadOutputs, type SoftNmsArgs, type SoftNmsResult, type SoftNmsMergeArgs, type SoftNmsMergeResult, type ScaleView, type MultiScaleOptions } from './decode';
