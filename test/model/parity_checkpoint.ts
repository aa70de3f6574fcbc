// The model-parity checkpoint (weights.safetensors) as a state dict and its config.
import * as path from 'path';

import type { ModelConfig } from '../../lib/configs';
import { readCheckpoint, type StateDict } from '../../lib/model';
import { parityDir } from '../helpers/parity_dir';

export function parityCheckpoint(): { config: ModelConfig; stateDict: StateDict } {
  const { stateDict, config } = readCheckpoint(path.join(parityDir, 'weights.safetensors'));
  if (!config) throw new Error('the parity checkpoint has no config in its metadata');
  return { config, stateDict };
}
