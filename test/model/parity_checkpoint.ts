// The model-parity checkpoint as a state dict (safetensors: u64 header length,
// JSON header, little-endian data) and its config, read with a few lines here
// so these tests do not depend on the engine's own safetensors reader.
import * as fs from 'fs';
import * as path from 'path';

import { validateModelConfig, type ModelConfig } from '../../lib/configs';
import type { StateDict } from '../../lib/model';
import { parityDir } from '../helpers/parity_dir';

export function parityCheckpoint(): { config: ModelConfig; stateDict: StateDict } {
  const buf = fs.readFileSync(path.join(parityDir, 'weights.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<string, unknown>;
  const meta = header.__metadata__ as { config: string };
  const stateDict: StateDict = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [s, e] } = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const bytes = buf.subarray(8 + n + s, 8 + n + e);
    const copy = new ArrayBuffer(bytes.length);
    new Uint8Array(copy).set(bytes);
    stateDict[name] = { data: dtype === 'I64' ? new BigInt64Array(copy) : new Float32Array(copy), shape };
  }
  return { config: validateModelConfig(JSON.parse(meta.config), 'fixture'), stateDict };
}
