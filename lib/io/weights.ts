// Weights for inference from a safetensors file: a training checkpoint of this
// package (model entries, plus the model config and class names it was trained
// with) or plain weights under the reference's key names (e.g. converted from
// an MMDetection checkpoint), F32 tensors and I64 num_batches_tracked counters,
// with the architecture when the header's __metadata__.config holds one.
import { validateModelConfig, type ModelConfig } from '../configs';
import type { LoadReport, Model, StateDict } from '../model';
import { CHECKPOINT_FORMAT, loadCheckpoint } from '../train/checkpoint';
import { parseJsonText } from './json_file';
import { loadSafetensorsAsync } from './safetensors';

export interface LoadedWeights {
  file: string;
  stateDict: StateDict;
  /** From a training checkpoint: the architecture it was trained with. */
  modelConfig: ModelConfig | null;
  /** From a training checkpoint: class names by label. */
  classNames: string[] | null;
}

export async function loadWeights(file: string): Promise<LoadedWeights> {
  const f = await loadSafetensorsAsync(file);
  if (f.metadata?.format === CHECKPOINT_FORMAT) {
    const c = await loadCheckpoint(file);
    const cfg = c.meta.config as { model?: ModelConfig };
    const names = (c.meta.loop as { classNames?: unknown }).classNames;
    return {
      file,
      stateDict: c.state.stateDict,
      modelConfig: cfg.model ?? null,
      classNames: Array.isArray(names) && names.every((n) => typeof n === 'string') ? (names as string[]) : null,
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
  return { file, stateDict, modelConfig, classNames: null };
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
