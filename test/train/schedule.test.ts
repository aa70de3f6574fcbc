import { strict as assert } from 'assert';

import { learningRate, type LrSchedule } from '../../lib/train/schedule';
import { referenceTrainConfig, scheduleSchema } from '../../lib/train/train_config';

describe('train/schedule', () => {
  // The reference recipe's: lr 5e-4, x0.1 at epoch 180, warm-up over 500 iterations from 1/3.
  const s: LrSchedule = { lr: referenceTrainConfig.optimizer.lr, ...referenceTrainConfig.schedule };
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-15 + 1e-12 * Math.abs(b), `${a} != ${b}`);

  it('warms up linearly from lr/3 over 500 iterations', () => {
    close(learningRate(s, 0, 0), 5e-4 / 3);
    close(learningRate(s, 250, 0), 5e-4 * (1 - 0.5 * (2 / 3)));
    close(learningRate(s, 499, 0), 5e-4 * (1 - (1 / 500) * (2 / 3)));
    close(learningRate(s, 500, 0), 5e-4);
  });

  it('steps x0.1 from epoch index 180 on', () => {
    close(learningRate(s, 100000, 179), 5e-4);
    close(learningRate(s, 100000, 180), 5e-5);
    close(learningRate(s, 100000, 209), 5e-5);
  });

  it('applies warmup on top of the stepped lr', () => {
    close(learningRate({ ...s, steps: [0] }, 0, 0), 5e-5 / 3);
  });

  it('anneals linearly or by cosine from lr to lr x minLrRatio at the last planned iteration, under the warm-up', () => {
    const a = { lr: 4e-3, steps: [], gamma: 0.1, warmupIters: 100, warmupRatio: 1 / 3, minLrRatio: 0 };
    const lin = { ...a, annealing: 'linear' as const };
    const cos = { ...a, annealing: 'cosine' as const };
    close(learningRate(lin, 500, 0, undefined, 1001), 4e-3 * 0.5);
    close(learningRate(lin, 1000, 0, undefined, 1001), 0);
    close(learningRate(cos, 250, 0, undefined, 1001), 4e-3 * (1 + Math.cos(Math.PI / 4)) / 2);
    close(learningRate(cos, 500, 0, undefined, 1001), 4e-3 * 0.5);
    close(learningRate({ ...cos, minLrRatio: 0.1 }, 1000, 0, undefined, 1001), 4e-4);
    // The warm-up scales the annealed value (mmcv): at iteration 50 of 100, from 1/3.
    close(learningRate(lin, 50, 0, undefined, 1001), 4e-3 * (1 - 50 / 1000) * (1 - 0.5 * (2 / 3)));
    // Epochs and steps play no part; the planned iterations are required.
    close(learningRate(lin, 500, 7, [100], 1001), 4e-3 * 0.5);
    assert.throws(() => learningRate(lin, 5, 0), /planned iterations/);
  });

  it('a config with an annealed schedule takes no lr steps, naming the field', () => {
    const base = { ...referenceTrainConfig.schedule, steps: [], annealing: 'cosine' };
    assert.equal(scheduleSchema.parse(base).annealing, 'cosine');
    assert.equal(scheduleSchema.parse({ ...base, stepFractions: [] }).minLrRatio, 0);
    assert.equal(scheduleSchema.parse({ ...referenceTrainConfig.schedule, annealing: undefined }).annealing, 'step');
    const issue = (s: object) => scheduleSchema.safeParse(s).error!.issues[0]!;
    assert.deepEqual(issue({ ...base, steps: [180] }).path, ['steps']);
    assert.deepEqual(issue({ ...base, stepFractions: [0.86] }).path, ['stepFractions']);
    assert.match(issue({ ...base, stepFractions: [0.86] }).message, /expected \[\]/);
    assert.deepEqual(issue({ ...base, annealing: 'exp' }).path, ['annealing']);
    assert.deepEqual(issue({ ...base, minLrRatio: 2 }).path, ['minLrRatio']);
  });
});
