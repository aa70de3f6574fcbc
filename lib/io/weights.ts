// Weights for inference from a safetensors file: a training checkpoint of this
// package (model entries, plus the model config and class names it was trained
// with) or plain weights under the reference's key names (e.g. converted from
// an MMDetection checkpoint), F32 tensors and I64 num_batches_tracked counters,
// with the architecture when the header's __metadata__.config holds one.
import { validateModelConfig, type ModelConfig } from '../configs';
import type { StateDict } from '../model';
import { CHECKPOINT_FORMAT, loadCheckpoint } from '../train/checkpoint';
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
      modelConfig = validateModelConfig(JSON.parse(meta), '__metadata__.config');
    } catch (e) {
      throw new Error(`${file}: the model config in its metadata is unusable: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { file, stateDict, modelConfig, classNames: null };
}
