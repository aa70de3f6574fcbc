import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { loadModelConfig, modelPreset, modelPresetNames, referenceModelDefaults, validateModelConfig } from '../../lib/configs';

describe('configs/model_config', () => {
  it('every preset validates; hourglass104 is the reference default', () => {
    assert.deepStrictEqual(modelPresetNames, ['hourglass104', 'hourglass52', 'shapes-tiny']);
    for (const n of modelPresetNames) validateModelConfig(modelPreset(n));
    assert.deepStrictEqual(modelPreset('hourglass104'), referenceModelDefaults);
    assert.throws(() => modelPreset('hourglass1'), /unknown model preset 'hourglass1' \(presets: hourglass104, hourglass52, shapes-tiny\)/);
  });

  it('completes a partial config with the reference defaults', () => {
    const c = validateModelConfig({ numClasses: 20 });
    assert.strictEqual(c.numClasses, 20);
    assert.deepStrictEqual(c.stageChannels, referenceModelDefaults.stageChannels);
  });

  it("accepts the reference's snake_case names (num_feat_levels checked against num_stacks)", () => {
    const ref = { num_stacks: 1, downsample_times: 2, stage_channels: [8, 16, 12], stage_blocks: [1, 2, 2], feat_channel: 8, num_classes: 3, num_feat_levels: 1 };
    const c = validateModelConfig(ref);
    assert.strictEqual(c.numStacks, 1);
    assert.strictEqual(c.featChannel, 8);
    assert.throws(() => validateModelConfig({ ...ref, num_feat_levels: 2 }), /model\.numFeatLevels: must equal numStacks \(1\)/);
    assert.throws(() => validateModelConfig({ numClasses: 3, num_classes: 4 }), /model\.num_classes: given twice/);
  });

  it('names every bad key with what was expected', () => {
    assert.throws(
      () => validateModelConfig({ numStacks: 0, stageChannels: [64, 64], downsampleTimes: 3, bogus: true, bnMomentum: 2 }, 'cfg'),
      (e: Error) => {
        for (const s of ['cfg.numStacks:', "cfg: unknown key(s) 'bogus'", 'cfg.stageChannels: needs more than downsampleTimes (3) entries', 'cfg.stageBlocks: needs as many entries', 'cfg.bnMomentum:'])
          assert.ok(e.message.includes(s), `${s} in:\n${e.message}`);
        return true;
      }
    );
    assert.throws(() => validateModelConfig([1, 2]), /must be an object, got an array/);
  });

  it('loads a preset, a JSON file, or the model section of a full config file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-model-config-'));
    try {
      const plain = path.join(dir, 'plain.json');
      const full = path.join(dir, 'full.json');
      const broken = path.join(dir, 'broken.json');
      fs.writeFileSync(plain, JSON.stringify({ ...modelPreset('shapes-tiny'), numClasses: 3 }));
      fs.writeFileSync(full, JSON.stringify({ model: { numClasses: 7 }, train: {} }));
      fs.writeFileSync(broken, '{"numClasses": ');
      assert.strictEqual(loadModelConfig('shapes-tiny').numClasses, 5);
      assert.strictEqual(loadModelConfig(plain).numClasses, 3);
      assert.strictEqual(loadModelConfig(full).numClasses, 7);
      assert.throws(() => loadModelConfig(broken), /broken\.json: not valid JSON/);
      assert.throws(() => loadModelConfig(path.join(dir, 'none.json')), /neither a preset .* nor an existing file/);
      fs.writeFileSync(full, JSON.stringify({ model: { featChannel: -1 } }));
      assert.throws(() => loadModelConfig(full), /full\.json: invalid model config:\nmodel\.featChannel/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
