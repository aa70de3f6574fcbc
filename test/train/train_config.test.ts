import { strict as assert } from 'assert';

import { applyOverrides } from '../../lib/train/overrides';
import { referenceTrainConfig, validateTrainConfig } from '../../lib/train/train_config';

describe('train/train_config', () => {
  it('accepts the reference recipe', () => {
    const c = validateTrainConfig(referenceTrainConfig);
    assert.equal(c.optimizer.lr, 5e-4);
    assert.equal(c.train.batchSize, 6);
  });

  it('names each bad key and what was expected', () => {
    const bad = applyOverrides(referenceTrainConfig, ['train.batchSize=-2', 'optimizer.betas=[0.9]', 'device=tpu', 'log.every=3']);
    assert.throws(
      () => validateTrainConfig(bad),
      (e: Error) =>
        /config\.train\.batchSize: .*>0.*, got -2/.test(e.message) &&
        /config\.optimizer\.betas/.test(e.message) &&
        /config\.device: expected cpu, cuda, cuda:N, cuda-emu or auto, got "tpu"/.test(e.message) &&
        /config\.log: unknown key\(s\) 'every'/.test(e.message),
    );
  });

  it('reports a missing section', () => {
    const { optimizer: _drop, ...rest } = referenceTrainConfig;
    void _drop;
    assert.throws(() => validateTrainConfig(rest), /config\.optimizer: .*got nothing/);
  });
});
