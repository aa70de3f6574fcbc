// The Model object's contract: initial weights as the reference initialises
// them, state dict loading that refuses partial or mismatched dicts by name,
// argument errors, and one async call at a time.
import * as assert from 'assert';

import { modelPreset, type ModelConfig } from '../../lib/configs';
import { Model, type StateDict } from '../../lib/model';
import type { TensorData } from '../../lib/native';
import { parityCheckpoint } from './parity_checkpoint';

const tinyInput = (n = 1, size = 128): TensorData => ({ data: new Float32Array(n * 3 * size * size).fill(0.1), shape: [n, 3, size, size] });

function stats(d: Float32Array) {
  let s = 0, s2 = 0, mx = 0;
  for (const v of d) {
    s += v;
    s2 += v * v;
    mx = Math.max(mx, Math.abs(v));
  }
  const mean = s / d.length;
  return { mean, std: Math.sqrt(s2 / d.length - mean * mean), maxAbs: mx };
}

describe('Model', () => {
  describe('initial weights (the reference init_weights)', () => {
    const m = new Model('shapes-tiny', { seed: 11 });
    const sd = m.stateDict();
    const w = (k: string) => sd[k]!.data as Float32Array;

    it('heatmap biases at -log(0.9/0.1), BN at 1/0 with running stats 0/1 and no batches seen', () => {
      for (const k of ['bbox_head.tl_heat.0.1.conv.bias', 'bbox_head.br_heat.0.1.conv.bias'])
        for (const v of w(k)) assert.ok(Math.abs(v - -2.1972246) < 1e-6, `${k}: ${v}`);
      for (const [k, v] of Object.entries(sd)) {
        if (/(bn\d?|downsample\.1)\.weight$/.test(k)) assert.ok(w(k).every((x) => x === 1), k);
        if (/(bn\d?|downsample\.1)\.bias$/.test(k) || k.endsWith('running_mean')) assert.ok(w(k).every((x) => x === 0), k);
        if (k.endsWith('running_var')) assert.ok(w(k).every((x) => x === 1), k);
        if (k.endsWith('num_batches_tracked')) assert.strictEqual((v.data as BigInt64Array)[0], 0n, k);
      }
    });

    it('backbone convs and the final 1x1 convs: PyTorch default U(+-1/sqrt(fan_in))', () => {
      for (const [k, fanIn] of [
        ['backbone.stem.0.conv.weight', 3 * 49],
        ['backbone.hourglass_modules.0.low1.0.conv1.weight', 32 * 9],
        ['bbox_head.tl_off.0.1.conv.weight', 32],
      ] as const) {
        const s = stats(w(k));
        const bound = 1 / Math.sqrt(fanIn);
        assert.ok(s.maxAbs <= bound && s.maxAbs > 0.9 * bound, `${k}: max |w| ${s.maxAbs}, bound ${bound}`);
      }
      const b = w('bbox_head.br_emb.0.1.conv.bias')[0]!;
      assert.ok(b !== 0 && Math.abs(b) <= 1 / Math.sqrt(32), `final conv bias ${b}`);
      const s = stats(w('backbone.hourglass_modules.0.low2.low2.low2.0.conv2.weight')); // 36,864 values
      assert.ok(Math.abs(s.std - 1 / Math.sqrt(64 * 9 * 3)) < 0.02 / Math.sqrt(64 * 9), `std ${s.std}`);
    });

    it('head ConvModules: kaiming normal (fan_out, ReLU gain), zero bias', () => {
      const s = stats(w('bbox_head.tl_pool.0.conv2.conv.weight')); // 32x32x3x3
      const std = Math.sqrt(2 / (32 * 9));
      assert.ok(Math.abs(s.std - std) < 0.05 * std && Math.abs(s.mean) < 0.05 * std, `std ${s.std}, mean ${s.mean}`);
      assert.ok(w('bbox_head.tl_heat.0.0.conv.bias').every((x) => x === 0));
    });

    it('is a function of the seed', () => {
      const a = new Model('shapes-tiny', { seed: 11 }).stateDict();
      const b = new Model('shapes-tiny', { seed: 12 }).stateDict();
      const k = 'backbone.stem.0.conv.weight';
      assert.deepStrictEqual(a[k]!.data, sd[k]!.data);
      assert.notDeepStrictEqual(b[k]!.data, sd[k]!.data);
    });
  });

  describe('loadStateDict', () => {
    let config: ModelConfig, stateDict: StateDict;
    before(async () => ({ config, stateDict } = await parityCheckpoint()));

    it('strict: names every missing, unexpected and mismatched entry and loads nothing', () => {
      const m = new Model(config, { seed: 1 });
      const before = m.stateDict();
      const bad = { ...stateDict };
      delete bad['backbone.stem.0.conv.weight'];
      delete bad['bbox_head.br_emb.1.1.conv.bias'];
      bad['backbone.extra.weight'] = { data: new Float32Array(1), shape: [1] };
      bad['backbone.stem.0.bn.weight'] = { data: new Float32Array(5), shape: [5] };
      bad['backbone.stem.0.bn.num_batches_tracked'] = { data: new Float32Array(1), shape: [] };
      assert.throws(
        () => m.loadStateDict(bad),
        (e: Error & { report?: { missing: string[]; unexpected: string[]; mismatched: string[] } }) => {
          assert.match(e.message, /nothing was loaded/);
          for (const s of ['backbone.stem.0.conv.weight', 'bbox_head.br_emb.1.1.conv.bias', 'backbone.extra.weight'])
            assert.ok(e.message.includes(s), s);
          assert.match(e.message, /backbone\.stem\.0\.bn\.weight has shape \[5\], the model expects \[4\]/);
          assert.match(e.message, /backbone\.stem\.0\.bn\.num_batches_tracked must hold a BigInt64Array/);
          assert.deepStrictEqual(e.report!.missing, ['backbone.stem.0.conv.weight', 'bbox_head.br_emb.1.1.conv.bias']);
          assert.deepStrictEqual(e.report!.unexpected, ['backbone.extra.weight']);
          assert.strictEqual(e.report!.mismatched.length, 2);
          return true;
        }
      );
      const after = m.stateDict();
      for (const k of Object.keys(before)) assert.deepStrictEqual(after[k]!.data, before[k]!.data, k);
    });

    it('strict: false loads what matches and reports the rest', () => {
      const m = new Model(config, { seed: 1 });
      const init = m.stateDict()['backbone.stem.0.conv.weight']!.data;
      const partial = { ...stateDict, 'backbone.stem.0.conv.weight': { data: new Float32Array(3), shape: [3] } };
      const report = m.loadStateDict(partial, { strict: false });
      assert.strictEqual(report.loaded, 539);
      assert.deepStrictEqual(report.mismatched, ['backbone.stem.0.conv.weight has shape [3], the model expects [4,3,7,7]']);
      const sd = m.stateDict();
      assert.deepStrictEqual(sd['backbone.stem.0.conv.weight']!.data, init);
      assert.deepStrictEqual(sd['bbox_head.tl_heat.1.1.conv.bias']!.data, stateDict['bbox_head.tl_heat.1.1.conv.bias']!.data);
    });

    it('copies: changing the loaded arrays afterwards changes nothing', () => {
      const m = new Model(config);
      const copy = Object.fromEntries(Object.entries(stateDict).map(([k, v]) => [k, { data: v.data.slice(), shape: v.shape }]));
      m.loadStateDict(copy);
      (copy['backbone.stem.0.conv.weight']!.data as Float32Array).fill(9);
      assert.deepStrictEqual(m.stateDict()['backbone.stem.0.conv.weight']!.data, stateDict['backbone.stem.0.conv.weight']!.data);
    });
  });

  describe('arguments and call order', () => {
    const m = new Model('shapes-tiny');

    it('rejects a bad config naming the key', () => {
      assert.throws(() => new Model({ ...modelPreset('shapes-tiny'), featChannel: 0 }), /model\.featChannel/);
      assert.throws(() => new Model({ ...modelPreset('shapes-tiny'), stageBlocks: [1, 1] }), /model\.stageBlocks: needs as many entries/);
      assert.throws(() => new Model('shapes-tiny', { backend: 'tpu' }), /backend 'tpu'/);
    });

    it('rejects inputs the hourglass cannot take, saying why', async () => {
      await assert.rejects(m.forward({ data: new Float32Array(4 * 64 * 64), shape: [1, 4, 64, 64] }), /3 channels/);
      await assert.rejects(m.forward({ data: new Float32Array(3 * 100 * 100), shape: [1, 3, 100, 100] }), /100x100 gives a 25x25 feature map .* divisible by 8/);
      await assert.rejects(m.forward({ data: new Float32Array(3), shape: [1, 3, 2, 2] }), /argument 'input' has shape \[1,3,2,2\] but \.data holds 3/);
      assert.deepStrictEqual(m.outputShapes([2, 3, 127, 127])[0]!.tlHeat, [2, 5, 32, 32]);
      assert.throws(() => m.outputShapes([1, 3, 96, 100]), /divisible by 8/);
      await assert.rejects(m.forward(tinyInput(1, 32), { train: true }), /innermost hourglass map is 1x1 with a batch of 1/);
      await m.forward(tinyInput(2, 32), { train: true });
      await m.forward(tinyInput(1, 32));
    });

    it('runs one forward/backward at a time', async () => {
      const first = m.forward(tinyInput());
      await assert.rejects(m.forward(tinyInput()), /busy with forward\(\)/);
      assert.throws(() => m.stateDict(), /busy with forward\(\)/);
      await first;
    });

    it('backward needs a recorded forward and gradients shaped like its outputs', async () => {
      const g = { data: new Float32Array(5 * 32 * 32), shape: [1, 5, 32, 32] };
      await m.forward(tinyInput());
      await assert.rejects(m.backward([{ tlHeat: g }]), /no recorded forward pass/);
      await m.forward(tinyInput(), { train: true });
      await assert.rejects(m.backward([{ tlHeat: g }, { tlHeat: g }]), /array of 1 objects/);
      await assert.rejects(m.backward([{ tlHeat: { data: g.data, shape: [1, 5, 16, 64] } }]), /grads\[0\]\.tlHeat has shape \[1,5,16,64\], the forward output has \[1,5,32,32\]/);
      await assert.rejects(m.backward([{ tlHeatmap: g } as never]), /unknown key 'tlHeatmap'/);
      await assert.rejects(m.backward([{}]), /no gradient given/);
      await m.backward([{ tlHeat: g }]);
      await assert.rejects(m.backward([{ tlHeat: g }]), /no recorded forward pass/);
    });
  });
});
