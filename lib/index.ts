// The public API of cornernet-native.
export { info, formatInfo, version, type EngineInfo } from './info';
export { type TensorData } from './native';
export * as ops from './ops';
export * as cocoEval from './eval/index';
export * as data from './data';
