// ES module entry: the same API as the CommonJS build, re-exported by name.
import { createRequire } from 'module';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const api = require('./index.js') as typeof import('./index.js');

export const {
  info, formatInfo, version, ops, data, cocoEval,
  decode, decodeAsync, decodeMultiScale, softNms, softNmsMerge, flipped, centerPadMeta,
  Model, formatSummary, loadWeights, importWeights, formatImportReport, loadDetector, Detector, train, DisposedError, readNpy, writeNpy, headOutputNames, modelPreset, modelPresetNames, modelPresets, validateModelConfig, loadModelConfig, referenceModelDefaults,
} = api;
export default api;
