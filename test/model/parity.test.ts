// The model against the reference's outputs on the model-parity fixture: head
// outputs of both stacks in eval and train mode (atol/rtol 1e-4), and what a
// train-mode forward does to BN state.
import * as assert from 'assert';
import * as path from 'path';

import type { ModelConfig } from '../../lib/configs';
import { headOutputNames, Model, type HeadOutputs, type StateDict } from '../../lib/model';
import { readNpy } from '../helpers/npy';
import { parityDir } from '../helpers/parity_dir';
import { parityCheckpoint } from './parity_checkpoint';

const snake: Record<string, string> = { tlHeat: 'tl_heat', brHeat: 'br_heat', tlEmb: 'tl_emb', brEmb: 'br_emb', tlOff: 'tl_off', brOff: 'br_off' };

function assertOutputsMatch(out: HeadOutputs[], prefix: string) {
  assert.strictEqual(out.length, 2);
  for (let l = 0; l < 2; l++) {
    for (const k of headOutputNames) {
      const ref = readNpy(path.join(parityDir, `${prefix}${snake[k]}_l${l}.npy`));
      const got = out[l]![k];
      const what = `${prefix}${snake[k]}_l${l}`;
      assert.deepStrictEqual(got.shape, ref.shape, `${what} shape`);
      for (let i = 0; i < ref.data.length; i++) {
        const e = ref.data[i]!, a = got.data[i]!;
        if (!(Math.abs(a - e) <= 1e-4 + 1e-4 * Math.abs(e))) assert.fail(`${what}[${i}]: got ${a}, expected ${e}`);
      }
    }
  }
}

function sameStateDict(a: StateDict, b: StateDict, except: (name: string) => boolean = () => false) {
  assert.deepStrictEqual(Object.keys(a), Object.keys(b));
  for (const k of Object.keys(a)) {
    if (except(k)) continue;
    assert.deepStrictEqual(a[k]!.shape, b[k]!.shape, k);
    assert.deepStrictEqual(a[k]!.data, b[k]!.data, k);
  }
}

describe('model parity with the reference (model-parity fixture)', () => {
  let config: ModelConfig, stateDict: StateDict;
  before(async () => ({ config, stateDict } = await parityCheckpoint()));
  const input = readNpy(path.join(parityDir, 'input.npy'));

  it('loads the checkpoint strictly and gives it back bit for bit', () => {
    const m = new Model(config);
    assert.deepStrictEqual(m.loadStateDict(stateDict), { loaded: 540, missing: [], unexpected: [], mismatched: [] });
    sameStateDict(m.stateDict(), stateDict);
  });

  it('eval mode: every head output of both stacks, and BN state untouched', async () => {
    const m = new Model(config);
    m.loadStateDict(stateDict);
    assertOutputsMatch(await m.forward(input), '');
    sameStateDict(m.stateDict(), stateDict);
  });

  it('train mode: batch-statistics outputs; running statistics move and every counter advances by one', async () => {
    const m = new Model(config);
    m.loadStateDict(stateDict);
    assertOutputsMatch(await m.forward(input, { train: true }), 'train_');
    const after = m.stateDict();
    sameStateDict(after, stateDict, (k) => k.includes('.running_') || k.endsWith('num_batches_tracked'));
    for (const k of Object.keys(after)) {
      if (k.endsWith('num_batches_tracked'))
        assert.strictEqual((after[k]!.data as BigInt64Array)[0], (stateDict[k]!.data as BigInt64Array)[0]! + 1n, k);
      if (k.endsWith('running_var')) assert.notDeepStrictEqual(after[k]!.data, stateDict[k]!.data, k);
    }
  });

  it('a batch of two copies of the input gives the same outputs for each (eval mode)', async () => {
    const m = new Model(config);
    m.loadStateDict(stateDict);
    const batch = { data: new Float32Array(2 * input.data.length), shape: [2, 3, 64, 64] };
    batch.data.set(input.data);
    batch.data.set(input.data, input.data.length);
    const out = await m.forward(batch);
    assert.deepStrictEqual(out[1]!.tlHeat.shape, [2, 3, 16, 16]);
    for (const l of [0, 1])
      for (const k of headOutputNames) {
        const d = out[l]![k].data, half = d.length / 2;
        assert.deepStrictEqual(d.subarray(half), d.subarray(0, half), `${k} level ${l}`);
      }
  });
});
