// Weights for inference and fine-tuning, from one of:
//  - a safetensors training checkpoint of this package (model entries, plus
//    the model config and class names it was trained with);
//  - safetensors weights under the reference's key names (e.g. written by
//    `cornernet import`), F32 tensors and I64 num_batches_tracked counters,
//    with the architecture when the header's __metadata__.config holds one,
//    class names in __metadata__.classes and a non-reference input
//    normalisation in __metadata__.input;
//  - a PyTorch checkpoint (.pth, zip or legacy; torch_import.ts), keys mapped
//    to the reference's names (MMDetection's, or the original CornerNet's).
import { validateModelConfig, type ModelConfig } from '../configs';
import type { LoadReport, Model, StateDict } from '../model';
import { CHECKPOINT_FORMAT, loadCheckpoint } from '../train/checkpoint';
import { parseJsonText } from './json_file';
import { sniffFormat } from './pth';
import { loadSafetensorsAsync } from './safetensors';
import { importTorchCheckpoint, type ImportReport, type InputNormalisation } from './torch_import';

export interface LoadedWeights {
  file: string;
  stateDict: StateDict;
  /** From a training checkpoint: the architecture it was trained with. */
  modelConfig: ModelConfig | null;
  /** From a training checkpoint: class names by label. */
  classNames: string[] | null;
  /** From a training checkpoint: the dataset's category id of each class index. */
  categoryIds: number[] | null;
  /** The input normalisation the weights expect, when not the reference's (weights of the original CornerNet). */
  input: InputNormalisation | null;
  /** From a PyTorch checkpoint: what the conversion did. */
  imported: ImportReport | null;
}

/** The metadata keys of imported weights (beside `config`). */
export const INPUT_METADATA_KEY = 'input';
export const CLASSES_METADATA_KEY = 'classes';

function metadataJson<T>(file: string, meta: Record<string, string> | null, key: string, check: (v: unknown) => v is T, expected: string): T | null {
  const text = meta?.[key];
  if (text === undefined) return null;
  let v: unknown;
  try {
    v = parseJsonText(text, `__metadata__.${key}`);
  } catch (e) {
    throw new Error(`${file}: __metadata__.${key} is not JSON: ${(e as Error).message}`);
  }
  if (!check(v)) throw new Error(`${file}: __metadata__.${key} must be ${expected}`);
  return v;
}

const isNormalisation = (v: unknown): v is InputNormalisation => {
  const o = v as Partial<InputNormalisation> | null;
  const three = (a: unknown, positive: boolean) => Array.isArray(a) && a.length === 3 && a.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
  return o !== null && typeof o === 'object' && three(o.mean, false) && three(o.std, true) && typeof o.source === 'string';
};
const isNames = (v: unknown): v is string[] => Array.isArray(v) && v.every((n) => typeof n === 'string');

export async function loadWeights(file: string): Promise<LoadedWeights> {
  // An unreadable file falls through to the safetensors reader, whose error names it.
  const kind = await sniffFormat(file).catch(() => null);
  if (kind === 'zip' || kind === 'legacy' || kind === 'tar') {
    const w = await importTorchCheckpoint(file, { undecided: 'keep' });
    return { file, stateDict: w.stateDict, modelConfig: null, classNames: w.classNames, categoryIds: null, input: w.input, imported: w.report };
  }
  const f = await loadSafetensorsAsync(file);
  if (f.metadata?.format === CHECKPOINT_FORMAT) {
    const c = await loadCheckpoint(file);
    const cfg = c.meta.config as { model?: ModelConfig };
    const { classNames: names, categoryIds: ids } = c.meta.loop as { classNames?: unknown; categoryIds?: unknown };
    return {
      file,
      stateDict: c.state.stateDict,
      modelConfig: cfg.model ?? null,
      classNames: Array.isArray(names) && names.every((n) => typeof n === 'string') ? (names as string[]) : null,
      // Checkpoints written before the ids were recorded have none: the detector then reports class indices.
      categoryIds: Array.isArray(ids) && ids.every((n) => Number.isInteger(n)) ? (ids as number[]) : null,
      input: null,
      imported: null,
    };
  }
  const stateDict: StateDict = {};
  for (const [k, v] of f.tensors) {
    if (v.data instanceof Float32Array || v.data instanceof BigInt64Array) stateDict[k] = { data: v.data, shape: v.shape };
    else throw new Error(`${file}: ${k} is ${v.dtype}; weights must be F32 (num_batches_tracked: I64)`);
  }
  const meta = f.metadata?.config;
  let modelConfig: ModelConfig | null = null;
  if (meta !== undefined) {
    try {
      modelConfig = validateModelConfig(parseJsonText(meta, '__metadata__.config'), '__metadata__.config');
    } catch (e) {
      throw new Error(`${file}: the model config in its metadata is unusable: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return {
    file,
    stateDict,
    modelConfig,
    classNames: metadataJson(file, f.metadata, CLASSES_METADATA_KEY, isNames, 'a JSON array of class names'),
    categoryIds: null,
    input: metadataJson(file, f.metadata, INPUT_METADATA_KEY, isNormalisation, 'a JSON object {mean: [3 numbers], std: [3 positive numbers], source: string}'),
    imported: null,
  };
}

/**
 * The architecture to build for `w` on the command line: --config when given,
 * else the one the file records. Plain weights record none, and guessing one
 * would only end in a key mismatch over every entry.
 */
export function weightsArchitecture(w: LoadedWeights, config: string | undefined): string | ModelConfig {
  if (config !== undefined) return config;
  if (w.modelConfig) return w.modelConfig;
  throw new Error(`--weights ${w.file}: this file does not record its architecture; pass --config (a preset such as hourglass104, or a JSON model config)`);
}

/**
 * Loads `w` into `model` strictly, for a command: a mismatch is said in the
 * command line's terms (the API's {strict: false} is no flag) with the counts
 * and the first keys of each kind.
 */
export function loadWeightsInto(model: Model, w: LoadedWeights, config: string | undefined): LoadReport {
  try {
    return model.loadStateDict(w.stateDict);
  } catch (e) {
    const r = (e as { report?: LoadReport }).report;
    if (!r) throw new Error(`--weights ${w.file}: ${(e as Error).message}`);
    const kinds = [
      ['entries missing', r.missing],
      ['not in the model', r.unexpected],
      ['of the wrong type or shape', r.mismatched],
    ] as const;
    const parts = kinds.filter(([, v]) => v.length).map(([what, v]) => `${v.length} ${what} (${v.slice(0, 2).join('; ')}${v.length > 2 ? '; ...' : ''})`);
    const arch = config !== undefined ? `--config ${config}` : 'the architecture the file records';
    throw new Error(`--weights ${w.file} does not fit ${arch} (nothing was loaded): ${parts.join(', ')}. Pass the --config the weights were trained with`);
  }
}
