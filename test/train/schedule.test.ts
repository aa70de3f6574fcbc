import { strict as assert } from 'assert';

import { learningRate, referenceSchedule, validateSchedule } from '../../lib/train/schedule';

describe('train/schedule', () => {
  const s = referenceSchedule;
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

  it('rejects bad schedules naming the field', () => {
    assert.throws(() => validateSchedule({ ...s, lr: -1 }), /schedule\.lr: expected a positive number/);
    assert.throws(() => validateSchedule({ ...s, steps: [1.5] }), /schedule\.steps/);
    assert.throws(() => validateSchedule({ ...s, warmupRatio: 0 }), /schedule\.warmupRatio/);
  });
});
