// The data pipeline: COCO loading and validation, dataset layout, transforms,
// the training loader and the synthetic shapes dataset.
export { CocoFormatError } from './coco_errors';
export * from './coco_types';
export { annotationsOf, loadCoco, summarize, trainImageIndices, trainTargets, type DatasetSummary, type LoadOptions, type TrainFilter } from './coco_loader';
export { discoverSplits, resolveDataset, DatasetLayoutError, type DatasetOverrides, type DatasetPaths, type SplitPaths } from './coco_layout';
export { decodeImage, ImageDecodeError, type DecodedImage } from './image_decode';
export { imageTransform, imageTransformAsync, type ImageTransformArgs } from './pixel_ops';
export { Rng } from './rng';
export * from './transforms';
export { collate, loadTestImage, TrainLoader, type TestInput, type TrainBatch, type TrainLoaderOptions, type TrainSample } from './train_loader';
export { writeSynthDataset, SYNTH_GENERATOR_VERSION, type SynthOptions, type SynthResult } from './synth/write_dataset';
export { cacheRoot, DEFAULT_SYNTH, ensureSynthDataset, synthCacheDir } from './synth_cache';
