// Adam, axpy and the gradient norm against float64 restatements of
// torch.optim.Adam and torch.nn.utils.clip_grad_norm_.
import { strict as assert } from 'assert';

import * as ops from '../../lib/ops';
import { seeded } from '../helpers/random_tensor';

const randn = (n: number, r: () => number) => Float32Array.from({ length: n }, r);

describe('native/optimizer', () => {
  it('adamUpdate matches torch.optim.Adam over several steps (with weight decay and a gradient scale)', () => {
    const r = seeded(7);
    const n = 1000;
    let p = ops.tensor(randn(n, r), [10, 100]);
    let m = ops.tensor(new Float32Array(n), [10, 100]);
    let v = ops.tensor(new Float32Array(n), [10, 100]);
    const P = Float64Array.from(p.data), M = new Float64Array(n), V = new Float64Array(n);
    const lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 1e-2, gs = 0.5;
    for (let step = 1; step <= 5; step++) {
      const g = ops.tensor(randn(n, r), [10, 100]);
      const out = ops.adamUpdate({ param: p, grad: g, expAvg: m, expAvgSq: v, lr, beta1: b1, beta2: b2, eps, weightDecay: wd, step, gradScale: gs });
      for (let i = 0; i < n; i++) {
        const gi = g.data[i]! * gs + wd * P[i]!;
        M[i] = b1 * M[i]! + (1 - b1) * gi;
        V[i] = b2 * V[i]! + (1 - b2) * gi * gi;
        const denom = Math.sqrt(V[i]!) / Math.sqrt(1 - b2 ** step) + eps;
        P[i] = P[i]! - (lr / (1 - b1 ** step)) * (M[i]! / denom);
      }
      ({ param: p, expAvg: m, expAvgSq: v } = out);
    }
    for (let i = 0; i < n; i++) assert.ok(Math.abs(p.data[i]! - P[i]!) <= 1e-6 + 1e-5 * Math.abs(P[i]!), `param ${i}: ${p.data[i]} vs ${P[i]}`);
  });

  it('adamUpdate leaves its inputs untouched', () => {
    const p = ops.tensor([1, 2, 3], [3]);
    const g = ops.tensor([1, 1, 1], [3]);
    const z = () => ops.tensor([0, 0, 0], [3]);
    ops.adamUpdate({ param: p, grad: g, expAvg: z(), expAvgSq: z(), step: 1 });
    assert.deepEqual(Array.from(p.data), [1, 2, 3]);
  });

  it('sumSquares gives the squared L2 norm (what gradient clipping needs)', () => {
    const x = ops.tensor(Float32Array.from({ length: 100001 }, (_, i) => (i % 7) - 3), [100001]);
    let want = 0;
    for (const e of x.data) want += e * e;
    assert.equal(ops.sumSquares({ x }).y.data[0], want);
    assert.deepEqual(ops.sumSquares({ x }).y.shape, []);
  });

  it('axpy adds alpha * x to a copy of y', () => {
    const y = ops.tensor([1, 2, 3], [3]);
    const out = ops.axpy({ alpha: 2, x: ops.tensor([1, 1, 1], [3]), y });
    assert.deepEqual(Array.from(out.y.data), [3, 4, 5]);
    assert.deepEqual(Array.from(y.data), [1, 2, 3]);
  });

  it('rejects mismatched shapes and bad hyper-parameters naming the argument', () => {
    const p = ops.tensor([1, 2, 3], [3]);
    const bad = ops.tensor([1, 2], [2]);
    assert.throws(() => ops.adamUpdate({ param: p, grad: bad, expAvg: p, expAvgSq: p, step: 1 }), /argument 'grad' must have the shape of 'param' \[3\], got \[2\]/);
    assert.throws(() => ops.adamUpdate({ param: p, grad: p, expAvg: p, expAvgSq: p, step: 0 }), /argument 'step' must be an integer in \[1,/);
    assert.throws(() => ops.adamUpdate({ param: p, grad: p, expAvg: p, expAvgSq: p, step: 1, beta1: 1 }), /argument 'beta1' must be in \[0, 1\)/);
  });
});
