// Backward end to end: directional finite differences of every conv weight of a
// tiny two-stack model, gradient accumulation across backward calls, zeroGrad,
// and outputs left out of backward.
//
// Finite differences need a smooth neighbourhood, and a randomly initialised
// network has ReLU and corner-pool kinks everywhere (the pools take ReLU outputs,
// full of tied zeros). The check therefore uses eval mode with positive weights,
// positive biases and a positive input: every ReLU is active and every BN affine,
// so the outputs are linear in each single weight tensor, and a large step
// (0.3 x the tensor's RMS) keeps float32 rounding far below the tolerance.
import * as assert from 'assert';

import { type ModelConfig } from '../../lib/configs';
import { Model, type HeadOutputs, type StateDict } from '../../lib/model';
import type { TensorData } from '../../lib/native';
import { linearRegime } from './linear_regime';

const tiny: ModelConfig = {
  numStacks: 2,
  downsampleTimes: 2,
  stageChannels: [4, 6, 5],
  stageBlocks: [1, 2, 2],
  featChannel: 4,
  numClasses: 2,
  cornerEmbChannels: 1,
  poolFeatChannels: 3,
  headFeatChannels: 5,
  bnEps: 1e-5,
  bnMomentum: 0.1,
};

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

function randomGrads(m: Model, input: number[], normal: () => number): HeadOutputs[] {
  return m.outputShapes(input).map(
    (level) =>
      Object.fromEntries(
        Object.entries(level).map(([k, s]) => [k, { data: Float32Array.from({ length: numel(s) }, normal), shape: s }])
      ) as HeadOutputs
  );
}

function dot(out: HeadOutputs[], r: HeadOutputs[]): number {
  let s = 0;
  out.forEach((level, l) => {
    for (const k of Object.keys(level) as (keyof HeadOutputs)[]) {
      const a = level[k].data, b = r[l]![k].data;
      for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
    }
  });
  return s;
}

describe('model backward', function () {
  this.timeout(120000);

  it('matches directional finite differences for every conv weight (eval mode, linear regime)', async () => {
    const r = rng(1);
    const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const m = new Model(tiny, { seed: 3 });
    const sd = m.stateDict();
    linearRegime(sd, r);
    m.loadStateDict(sd);
    const x: TensorData = { data: Float32Array.from({ length: 2 * 3 * 32 * 32 }, r), shape: [2, 3, 32, 32] };
    const R = randomGrads(m, x.shape, normal);
    await m.forward(x, { grad: true });
    await m.backward(R);
    const grads = m.gradients();
    const loss = async () => dot(await m.forward(x), R);

    const convs = m.keys().filter((k) => k.kind === 'parameter' && k.shape.length === 4);
    assert.strictEqual(convs.length, 106);
    const failures: string[] = [];
    for (const p of convs) {
      const w = sd[p.name]!.data as Float32Array;
      const orig = Float32Array.from(w);
      const dir = Float32Array.from({ length: w.length }, normal);
      const g = grads[p.name]!.data;
      let analytic = 0;
      for (let i = 0; i < w.length; i++) analytic += dir[i]! * g[i]!;
      const eps = 0.3 * Math.sqrt(orig.reduce((a, b) => a + b * b, 0) / orig.length);
      const at = async (sign: number) => {
        for (let i = 0; i < w.length; i++) w[i] = orig[i]! + sign * eps * dir[i]!;
        m.loadStateDict({ [p.name]: sd[p.name]! }, { strict: false });
        return loss();
      };
      const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
      w.set(orig);
      m.loadStateDict({ [p.name]: sd[p.name]! }, { strict: false });
      if (!(Math.abs(fd - analytic) <= 1e-2 * Math.max(Math.abs(fd), Math.abs(analytic))))
        failures.push(`${p.name}: finite difference ${fd}, backward ${analytic}`);
    }
    assert.deepStrictEqual(failures, []);
  });

  it('accumulates across backward calls until zeroGrad; omitted outputs leave their branches without gradient', async () => {
    const r = rng(7);
    const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const m = new Model(tiny, { seed: 5 });
    const x: TensorData = { data: Float32Array.from({ length: 3 * 32 * 32 }, normal), shape: [1, 3, 32, 32] };
    const R = randomGrads(m, x.shape, normal);
    assert.deepStrictEqual(m.gradients(), {});

    await m.forward(x, { train: true });
    await m.backward(R);
    const once = m.gradients();
    assert.strictEqual(Object.keys(once).length, m.keys().filter((k) => k.kind === 'parameter').length);

    await m.forward(x, { train: true });
    await m.backward(R);
    const twice = m.gradients();
    for (const k of Object.keys(once)) {
      const a = once[k]!.data, b = twice[k]!.data;
      for (let i = 0; i < a.length; i++) if (!(Math.abs(b[i]! - 2 * a[i]!) <= 1e-4 * Math.abs(a[i]!) + 1e-6)) assert.fail(`${k}[${i}]: ${b[i]} after two backward calls, ${a[i]} after one`);
    }

    m.zeroGrad();
    assert.deepStrictEqual(m.gradients(), {});
    const partial: Partial<HeadOutputs>[] = R.map((l) => ({ ...l }));
    delete partial[0]!.brEmb;
    await m.forward(x, { train: true });
    await m.backward(partial);
    const names = Object.keys(m.gradients());
    assert.deepStrictEqual(
      names.filter((n) => n.startsWith('bbox_head.br_emb.')),
      ['bbox_head.br_emb.1.0.conv.weight', 'bbox_head.br_emb.1.0.conv.bias', 'bbox_head.br_emb.1.1.conv.weight', 'bbox_head.br_emb.1.1.conv.bias']
    );
    assert.ok(names.includes('backbone.stem.0.conv.weight'));
  });

  it('gradients of the first stack only: nothing after it in the network gets a gradient', async () => {
    const r = rng(3);
    const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const m = new Model(tiny, { seed: 4 });
    const x: TensorData = { data: Float32Array.from({ length: 3 * 32 * 32 }, normal), shape: [1, 3, 32, 32] };
    const R = randomGrads(m, x.shape, normal);
    await m.forward(x, { train: true });
    await m.backward([R[0]!, {}]);
    const got = new Set(Object.keys(m.gradients()));
    const laterStack = /^(backbone\.(hourglass_modules\.1|out_convs\.1|inters|conv1x1s|remap_convs)|bbox_head\.\w+\.1)\./;
    for (const k of m.keys().filter((k) => k.kind === 'parameter'))
      assert.strictEqual(got.has(k.name), !laterStack.test(k.name), k.name);
    // The next forward/backward pair works as usual.
    await m.forward(x, { train: true });
    await m.backward(R);
    assert.ok('backbone.inters.0.conv1.weight' in m.gradients());
  });

  it('eval-mode backward (grad: true) treats BN running statistics as constants', async () => {
    const m = new Model(tiny, { seed: 9 });
    const x: TensorData = { data: new Float32Array(3 * 32 * 32).fill(0.5), shape: [1, 3, 32, 32] };
    const before: StateDict = m.stateDict();
    await m.forward(x, { grad: true });
    const R = randomGrads(m, x.shape, () => 1);
    await m.backward(R);
    const after = m.stateDict();
    for (const k of Object.keys(before)) assert.deepStrictEqual(after[k]!.data, before[k]!.data, k);
    assert.ok(Object.keys(m.gradients()).length > 0);
  });
});
