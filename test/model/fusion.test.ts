// Folded and fused paths against the plain ones, on random weights and inputs.
// An eval forward that records nothing folds convolution + batch norm pairs
// into one convolution (weights and bias folded once per weights version, where
// the copy is no larger than the layer's output: both kinds run in each model
// here); one that records (for an eval-mode backward) runs them apart, so the
// two must agree within float tolerance. The folded weights, and the Winograd-transformed
// weights the CPU keeps between calls, must follow every change of the weights:
// a load, and the running statistics a train-mode forward moves.
import * as assert from 'assert';

import { modelPreset, type ModelConfig } from '../../lib/configs';
import { headOutputNames, Model, type HeadOutputs, type StateDict } from '../../lib/model';
import { native } from '../../lib/native';
import type { TensorData } from '../../lib/ops';
import { assertClose } from '../helpers/assert_close';
import { backendsFor, backendTitle } from '../helpers/backends';
import { randomTensor, seeded } from '../helpers/random_tensor';
import { parityCheckpoint } from './parity_checkpoint';

/** `sd` with every BN's weight, bias and running statistics replaced by seeded random values (variance in [0.25, 1.75)). */
function randomBatchNorm(sd: StateDict, seed: number): StateDict {
  const r = seeded(seed);
  const out: StateDict = {};
  for (const [k, v] of Object.entries(sd)) {
    const bn = /(\.bn\d?|\.downsample\.1)\.(weight|bias|running_mean|running_var)$/.exec(k);
    if (!bn) {
      out[k] = v;
      continue;
    }
    const data = Float32Array.from(v.data as Float32Array, () => {
      const u = r();
      return bn[2] === 'running_var' ? 1 + 1.5 * u : bn[2] === 'weight' ? 1 + u : u;
    });
    out[k] = { data, shape: v.shape };
  }
  return out;
}

function assertSameOutputs(label: string, got: HeadOutputs[], want: HeadOutputs[]) {
  assert.strictEqual(got.length, want.length);
  for (let l = 0; l < want.length; l++)
    for (const k of headOutputNames) assert.deepStrictEqual(got[l]![k].data, want[l]![k].data, `${label}: ${k} of level ${l}`);
}

function assertCloseOutputs(label: string, got: HeadOutputs[], want: HeadOutputs[]) {
  assert.strictEqual(got.length, want.length);
  for (let l = 0; l < want.length; l++)
    for (const k of headOutputNames) assertClose(`${label}: ${k} of level ${l}`, got[l]![k], want[l]![k], { atol: 1e-4, rtol: 1e-4 });
}

const input = (n: number, size: number, seed: number): TensorData => randomTensor([n, 3, size, size], seed);

describe('folded batch norm and cached Winograd weights (native/model/README.md)', () => {
  const split = backendsFor(native().modelOps('test'));

  it('eval forward with every conv-BN folded matches the unfolded eval forward (parity model, random BN) [cpu]', async () => {
    const { config, stateDict } = await parityCheckpoint();
    const m = new Model(config);
    m.loadStateDict(randomBatchNorm(stateDict, 5));
    const x = input(2, 64, 9);
    assertCloseOutputs('cpu', await m.forward(x), await m.forward(x, { grad: true }));
  });

  it(`the same on every backend (shapes-tiny at 64x64, random BN)${backendTitle(split)}`, async () => {
    const x = input(1, 64, 10);
    for (const backend of split.run) {
      const m = new Model('shapes-tiny', { backend, seed: 4 });
      m.loadStateDict(randomBatchNorm(m.stateDict(), 11));
      assertCloseOutputs(backend, await m.forward(x), await m.forward(x, { grad: true }));
    }
  });

  // shapes-tiny has 32-64 channels at 32x32 and 16x16: its 3x3 convs go through Winograd on the CPU.
  const tiny: ModelConfig = modelPreset('shapes-tiny');
  const x = input(1, 128, 3);

  it('shapes-tiny (Winograd layers): folded matches unfolded, and repeated calls agree bit for bit', async () => {
    const m = new Model(tiny, { seed: 1 });
    m.loadStateDict(randomBatchNorm(m.stateDict(), 6));
    // The third call of each kind runs on weights cached by the second.
    const folded = [await m.forward(x), await m.forward(x), await m.forward(x)];
    const plain = [await m.forward(x, { grad: true }), await m.forward(x, { grad: true }), await m.forward(x, { grad: true })];
    assertCloseOutputs('folded vs unfolded', folded[0]!, plain[0]!);
    for (const i of [1, 2]) {
      assertSameOutputs(`folded call ${i + 1}`, folded[i]!, folded[0]!);
      assertSameOutputs(`unfolded call ${i + 1}`, plain[i]!, plain[0]!);
    }
  });

  it('a load replaces the folded and the cached weights', async () => {
    const m = new Model(tiny, { seed: 1 });
    m.loadStateDict(randomBatchNorm(m.stateDict(), 7));
    for (let i = 0; i < 3; i++) {
      await m.forward(x);
      await m.forward(x, { grad: true });
    }
    // Other weights in the same storage: only the weights' version tells them apart.
    const other = randomBatchNorm(new Model(tiny, { seed: 2 }).stateDict(), 8);
    m.loadStateDict(other);
    const fresh = new Model(tiny, { seed: 3 });
    fresh.loadStateDict(other);
    assertSameOutputs('folded after load', await m.forward(x), await fresh.forward(x));
    assertSameOutputs('unfolded after load', await m.forward(x, { grad: true }), await fresh.forward(x, { grad: true }));
  });

  it("a train-mode forward's running statistics reach the next folded forward", async () => {
    const m = new Model(tiny, { seed: 1 });
    m.loadStateDict(randomBatchNorm(m.stateDict(), 9));
    for (let i = 0; i < 3; i++) await m.forward(x);
    await m.forward(input(2, 128, 4), { train: true });
    const fresh = new Model(tiny, { seed: 3 });
    fresh.loadStateDict(m.stateDict());
    assertSameOutputs('folded after a train-mode forward', await m.forward(x), await fresh.forward(x));
  });
});
