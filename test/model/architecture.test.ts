// The model's state_dict against the reference: hourglass104's full key list,
// shapes and counts (built without allocating weights), the other presets, and
// the key list and shapes of the model-parity fixture's checkpoint.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { modelPreset, validateModelConfig, type ModelConfig } from '../../lib/configs';
import { Model } from '../../lib/model';
import { parityDir } from '../helpers/parity_dir';
import { referenceKeys } from './reference_keys';

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

function assertKeysMatch(model: Model, expected: [string, number[]][]) {
  const got = model.keys();
  for (let i = 0; i < Math.min(got.length, expected.length); i++) {
    const [name, shape] = expected[i]!;
    assert.strictEqual(got[i]!.name, name, `key ${i}`);
    assert.deepStrictEqual(got[i]!.shape, shape, `shape of ${name}`);
  }
  assert.strictEqual(got.length, expected.length, 'number of state_dict entries');
}

describe('model architecture', () => {
  it('hourglass104: 201,035,212 parameters, 1128 entries, 588 parameter tensors, 180 BN layers', () => {
    const m = new Model('hourglass104');
    const keys = m.keys();
    assert.strictEqual(m.parameterCount(), 201_035_212);
    assert.strictEqual(keys.length, 1128);
    assert.strictEqual(keys.filter((k) => k.kind === 'parameter').length, 588);
    assert.strictEqual(keys.filter((k) => k.name.endsWith('.num_batches_tracked')).length, 180);
    assert.ok(keys.filter((k) => k.dtype === 'int64').every((k) => k.name.endsWith('.num_batches_tracked') && k.shape.length === 0));
    const buffers = keys.filter((k) => k.kind === 'buffer').reduce((n, k) => n + numel(k.shape), 0);
    assert.strictEqual(buffers, 125_876);
  });

  it('hourglass104: every key and shape in the reference order', () => {
    assertKeysMatch(new Model('hourglass104'), referenceKeys(modelPreset('hourglass104')));
  });

  it('hourglass104: the layers the reference spec singles out', () => {
    const shapes = new Map(new Model('hourglass104').keys().map((k) => [k.name, k.shape]));
    const hg = 'backbone.hourglass_modules.1.';
    const expect: [string, number[]][] = [
      ['backbone.stem.0.conv.weight', [128, 3, 7, 7]],
      ['backbone.stem.1.0.downsample.0.weight', [256, 128, 1, 1]],
      [`${hg}low1.0.downsample.0.weight`, [256, 256, 1, 1]],
      [`${hg}low2.low1.0.downsample.0.weight`, [384, 256, 1, 1]],
      [`${hg}low2.low3.1.downsample.0.weight`, [256, 384, 1, 1]],
      [`${hg}low2.low2.low2.low2.low3.1.downsample.0.weight`, [384, 512, 1, 1]],
      [`${hg}low2.low2.low2.low2.low2.3.conv2.weight`, [512, 512, 3, 3]],
      ['backbone.inters.0.conv1.weight', [256, 256, 3, 3]],
      ['backbone.out_convs.1.conv.weight', [256, 256, 3, 3]],
      ['bbox_head.tl_pool.1.direction1_conv.conv.weight', [128, 256, 3, 3]],
      ['bbox_head.br_pool.0.aftpool_conv.conv.weight', [256, 128, 3, 3]],
      ['bbox_head.tl_heat.1.1.conv.weight', [80, 256, 1, 1]],
      ['bbox_head.br_off.0.1.conv.bias', [2]],
      ['bbox_head.tl_emb.0.1.conv.weight', [1, 256, 1, 1]],
    ];
    for (const [name, shape] of expect) assert.deepStrictEqual(shapes.get(name), shape, name);
    // Same-width levels carry no downsample in low3; the innermost ResLayer none at all.
    assert.ok(!shapes.has(`${hg}low3.1.downsample.0.weight`));
    assert.ok(!shapes.has(`${hg}low2.low2.low2.low2.low2.0.downsample.0.weight`));
    assert.ok(!shapes.has('bbox_head.tl_pool.0.conv1.conv.bias'), 'convs followed by BN have no bias');
  });

  it('hourglass52 and shapes-tiny follow the same pattern; one stack still has inters.0, as in the reference', () => {
    for (const name of ['hourglass52', 'shapes-tiny']) {
      const cfg = modelPreset(name);
      const m = new Model(cfg);
      assertKeysMatch(m, referenceKeys(cfg));
      assert.ok(m.keys().some((k) => k.name === 'backbone.inters.0.conv1.weight'), name);
      assert.ok(!m.keys().some((k) => k.name.startsWith('backbone.conv1x1s')), name);
    }
    assert.strictEqual(new Model('hourglass52').parameterCount(), 101_510_950);
    assert.strictEqual(new Model('shapes-tiny').parameterCount(), 792_416);
  });

  it('head widths follow poolFeatChannels / headFeatChannels', () => {
    const cfg: ModelConfig = { ...modelPreset('shapes-tiny'), poolFeatChannels: 7, headFeatChannels: 9 };
    const shapes = new Map(new Model(cfg).keys().map((k) => [k.name, k.shape]));
    assert.deepStrictEqual(shapes.get('bbox_head.br_pool.0.direction2_conv.conv.weight'), [7, 32, 3, 3]);
    assert.deepStrictEqual(shapes.get('bbox_head.tl_off.0.0.conv.weight'), [9, 32, 3, 3]);
  });

  it('the model-parity checkpoint: the same 540 keys, in order, with the same shapes and 418,444 parameters', () => {
    const file = path.join(parityDir, 'weights.safetensors');
    const buf = fs.readFileSync(file);
    const headerLen = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.toString('utf8', 8, 8 + headerLen)) as Record<string, { shape: number[]; dtype: string }> & {
      __metadata__?: { config?: string };
    };
    const cfg = validateModelConfig(JSON.parse(header.__metadata__!.config!), 'fixture');
    const m = new Model(cfg);
    const expected = Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .map(([k, v]) => [k, (v as { shape: number[] }).shape] as [string, number[]]);
    assert.strictEqual(expected.length, 540);
    assertKeysMatch(m, expected);
    assert.strictEqual(m.parameterCount(), 418_444);
    for (const k of m.keys()) assert.strictEqual(k.dtype === 'int64' ? 'I64' : 'F32', header[k.name]!.dtype, k.name);
  });
});
