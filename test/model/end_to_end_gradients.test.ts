// Model + targets + the four losses, end to end: the gradient the engine
// back-propagates from the total loss against central finite differences of
// that loss, along random directions of weights spread over the network.
// As in gradients.test.ts, eval mode with positive weights, biases and input
// keeps every ReLU active, so the network is smooth and finite differences
// converge; the losses (sigmoid focal, smooth L1, pull/push) are smooth away
// from measure-zero kinks.
import * as assert from 'assert';

import { type ModelConfig } from '../../lib/configs';
import { Model, type HeadOutputs } from '../../lib/model';
import type { TensorData } from '../../lib/native';
import * as ops from '../../lib/ops';
import { linearRegime } from './linear_regime';

const tiny: ModelConfig = {
  numStacks: 2, downsampleTimes: 2, stageChannels: [4, 6, 5], stageBlocks: [1, 1, 1], featChannel: 4, numClasses: 2,
  cornerEmbChannels: 1, poolFeatChannels: 3, headFeatChannels: 5, bnEps: 1e-5, bnMomentum: 0.1,
};

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 4294967296);
}

describe('model + losses: end-to-end gradient', function () {
  this.timeout(120000);

  it('matches central finite differences of the total loss (det + off + pull + push over both stacks)', async () => {
    const r = rng(5);
    const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const m = new Model(tiny, { seed: 2 });
    const sd = m.stateDict();
    // Heatmap logits near -2 and small other biases keep every loss term active.
    linearRegime(sd, r, (k) => (/_heat\.\d+\.1\.conv\.bias$/.test(k) ? -2 : 0.1 * r()));
    m.loadStateDict(sd);
    const x: TensorData = { data: Float32Array.from({ length: 2 * 3 * 32 * 32 }, r), shape: [2, 3, 32, 32] };
    const [h, w] = m.outputShapes(x.shape)[0]!.tlHeat.slice(2) as [number, number];
    const targets = ops.cornerTargets({
      images: [
        { boxes: [[2, 3, 20, 25], [10, 12, 30, 29]], labels: [0, 1] },
        { boxes: [[5, 1, 17, 30]], labels: [1] },
      ],
      numClasses: 2, featureSize: [h, w], padSize: [32, 32],
    });
    const total = (levels: HeadOutputs[], keepGrads: boolean) => {
      let t = 0;
      const grads: Partial<HeadOutputs>[] = [];
      for (const o of levels) {
        const l = ops.cornerHeadLosses({ ...o, ...targets, match: targets.match });
        t += l.det + l.off + l.pull + l.push;
        if (keepGrads) grads.push({ tlHeat: l.gradTlHeat, brHeat: l.gradBrHeat, tlEmb: l.gradTlEmb, brEmb: l.gradBrEmb, tlOff: l.gradTlOff, brOff: l.gradBrOff });
      }
      return { t, grads };
    };
    const { t: t0, grads } = total(await m.forward(x, { grad: true }), true);
    assert.ok(t0 > 0 && Number.isFinite(t0));
    await m.backward(grads);
    const g = m.gradients();

    // A stem conv, a backbone conv, each head branch's last conv, a corner-pool conv.
    const names = m.keys().filter((k) => k.kind === 'parameter' && k.shape.length === 4).map((k) => k.name)
      .filter((n) => /^backbone\.stem\.0\.conv|hourglass_modules\.0\.up1\.0\.conv1|bbox_head\.(tl_heat|br_emb|tl_off)\.1\.1\.conv|bbox_head\.br_pool\.0\.p1_conv1\.conv/.test(n));
    assert.ok(names.length >= 5, names.join(', '));
    const failures: string[] = [];
    for (const name of names) {
      const wt = sd[name]!.data as Float32Array;
      const orig = Float32Array.from(wt);
      const dir = Float32Array.from({ length: wt.length }, normal);
      let analytic = 0;
      for (let i = 0; i < wt.length; i++) analytic += dir[i]! * g[name]!.data[i]!;
      const eps = 0.05 * Math.sqrt(orig.reduce((a, b) => a + b * b, 0) / orig.length);
      const at = async (sign: number) => {
        for (let i = 0; i < wt.length; i++) wt[i] = orig[i]! + sign * eps * dir[i]!;
        m.loadStateDict({ [name]: sd[name]! }, { strict: false });
        return total(await m.forward(x), false).t;
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
      wt.set(orig);
      m.loadStateDict({ [name]: sd[name]! }, { strict: false });
      if (!(Math.abs(fd - analytic) <= 2e-2 * Math.max(Math.abs(fd), Math.abs(analytic)) + 1e-4)) failures.push(`${name}: finite difference ${fd}, backward ${analytic}`);
    }
    assert.deepStrictEqual(failures, []);
  });
});
