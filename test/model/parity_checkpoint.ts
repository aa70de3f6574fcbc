// The model-parity checkpoint (weights.safetensors) as a state dict and its config.
import * as path from 'path';

import type { ModelConfig } from '../../lib/configs';
import { loadWeights } from '../../lib/io/weights';
import type { StateDict } from '../../lib/model';
import { parityDir } from '../helpers/parity_dir';

export async function parityCheckpoint(): Promise<{ config: ModelConfig; stateDict: StateDict }> {
  const { stateDict, modelConfig } = await loadWeights(path.join(parityDir, 'weights.safetensors'));
  if (!modelConfig) throw new Error('the parity checkpoint has no config in its metadata');
  return { config: modelConfig, stateDict };
}
