// The CornerNet losses: the Gaussian focal loss fixtures (mmdet variant), finite-
// difference checks of all three losses' gradients, hand-computed embedding
// cases, and the reference's per-level losses and head-output gradients on the
// model-parity fixtures (train-mode head outputs of case 'single' and 'empty').
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { loadSafetensors } from '../../lib/io/safetensors';
import {
  associativeEmbeddingLoss,
  cornerHeadLosses,
  cornerHeadLossesAsync,
  cornerTargets,
  gaussianFocalLoss,
  maskedSmoothL1Loss,
  type CornerMatch,
  type TensorData,
} from '../../lib/ops';
import { readNpy } from '../helpers/npy';
import { opsFixtureDir, parityDir } from '../helpers/parity_dir';
import { filled, uniform01 as rng } from '../helpers/random_tensor';

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string) {
  assert.strictEqual(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number, e = expected[i] as number;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e)))
      assert.fail(`${what}[${i}]: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
  }
}

// Central differences of a float32-valued loss; h large enough that float32
// rounding of the loss (~1e-7 relative) stays far below the compared tolerance.
function checkGradient(
  x: TensorData,
  loss: (x: TensorData) => number,
  grad: Float32Array,
  indices: number[],
  h: number,
  what: string
) {
  const scale = Math.max(...Array.from(grad, Math.abs));
  for (const i of indices) {
    const orig = x.data[i] as number;
    x.data[i] = orig + h;
    const up = loss(x);
    x.data[i] = orig - h;
    const down = loss(x);
    x.data[i] = orig;
    const fd = (up - down) / (2 * h);
    const g = grad[i] as number;
    if (!(Math.abs(fd - g) <= 2e-3 * scale + 2e-2 * Math.abs(g)))
      assert.fail(`${what}: d/dx[${i}] analytic ${g}, finite difference ${fd} (max |grad| ${scale})`);
  }
}

describe('losses: gaussianFocalLoss', () => {
  for (const name of ['gfl_mmdet_basic_1x4x14x18', 'gfl_mmdet_extreme_1x3x9x7', 'gfl_mmdet_nopos_2x1x8x8']) {
    it(`matches the reference fixture ${name}`, () => {
      const dir = path.join(opsFixtureDir, name);
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      assert.strictEqual(manifest.params.variant, 'mmdet');
      const r = gaussianFocalLoss({ logits: readNpy(path.join(dir, 'logits.npy')), gt: readNpy(path.join(dir, 'gt.npy')) });
      const tol = manifest.suggested_tolerance;
      assertClose([r.loss], readNpy(path.join(dir, 'loss.npy')).data, tol.loss.rtol, tol.loss.atol, 'loss');
      assertClose(r.gradLogits.data, readNpy(path.join(dir, 'grad_logits.npy')).data, tol.grad_logits.rtol, tol.grad_logits.atol, 'grad_logits');
    });
  }

  it('has the gradient of finite differences', () => {
    const r = rng(7);
    const shape = [2, 3, 5, 6];
    const logits = filled(shape, () => (r() - 0.5) * 6);
    const gt = filled(shape, () => (r() < 0.08 ? 1 : r() * 0.9));
    const { gradLogits } = gaussianFocalLoss({ logits, gt });
    const indices = Array.from({ length: 60 }, (_, k) => (k * 37) % logits.data.length);
    gt.data.forEach((v, i) => v === 1 && indices.push(i));
    checkGradient(logits, (x) => gaussianFocalLoss({ logits: x, gt }).loss, gradLogits.data, indices, 1e-2, 'focal');
  });

  it('normalises by the count of cells exactly equal to 1', () => {
    // One positive at logit 0 (p = 1/2): -log(1/2 + 1e-12) * (1/2)^2; plus a
    // negative at logit 0 with gt 0.5: -log(1/2 + 1e-12) * (1/2)^2 * (1/2)^4.
    const r = gaussianFocalLoss({ logits: filled([1, 1, 1, 2], () => 0), gt: { data: Float32Array.from([1, 0.5]), shape: [1, 1, 1, 2] } });
    const l2 = -Math.log(0.5 + 1e-12);
    assertClose([r.loss], [(l2 * 0.25 + l2 * 0.25 / 16) / (1 + 1.1920929e-7)], 1e-6, 0, 'loss');
  });

  it('names the argument whose shape is wrong', () => {
    assert.throws(
      () => gaussianFocalLoss({ logits: filled([1, 2, 3, 3], () => 0), gt: filled([1, 2, 3, 4], () => 0) }),
      /gaussianFocalLoss: argument 'gt' must have the shape of 'logits'/
    );
  });
});

describe('losses: associativeEmbeddingLoss', () => {
  it('one object: pull only, (t-b)^2/2 weighted; push is 0', () => {
    const tl = filled([1, 1, 4, 4], () => 0), br = filled([1, 1, 4, 4], () => 0);
    tl.data[1 * 4 + 2] = 1;
    br.data[3 * 4 + 3] = 3;
    const r = associativeEmbeddingLoss({ tlEmb: tl, brEmb: br, match: [[[[1, 2], [3, 3]]]] });
    assertClose([r.pull, r.push], [0.1 * 2, 0], 1e-6, 1e-9, 'pull/push');
    // d pull / d t = 0.1 * (t - b) / K
    assert.strictEqual(r.gradTlEmb.data[6], Math.fround(-0.2));
    assert.strictEqual(r.gradBrEmb.data[15], Math.fround(0.2));
  });

  it('two objects: push counts both ordered pairs, 1 - |mean_j - mean_k| where positive', () => {
    const tl = filled([1, 1, 2, 2], () => 0), br = filled([1, 1, 2, 2], () => 0);
    // object 0: tl (0,0)=0.2, br (1,1)=0.4 -> mean 0.3; object 1: tl (0,1)=0.6, br (1,0)=0.8 -> mean 0.7
    tl.data[0] = 0.2;
    br.data[3] = 0.4;
    tl.data[1] = 0.6;
    br.data[2] = 0.8;
    const match: CornerMatch[][] = [[[[0, 0], [1, 1]], [[0, 1], [1, 0]]]];
    const r = associativeEmbeddingLoss({ tlEmb: tl, brEmb: br, match, pullWeight: 1, pushWeight: 1 });
    // pull: each object (t-b)^2/2 = 0.02, mean over 2 objects
    // push: 2 * (1 - 0.4) / (2 * 1) = 0.6
    assertClose([r.pull, r.push], [0.02, 0.6], 1e-5, 1e-8, 'pull/push');
  });

  it('sums over the images of the batch and skips images without objects', () => {
    const r0 = rng(3);
    const tl = filled([3, 1, 5, 5], () => r0() * 2), br = filled([3, 1, 5, 5], () => r0() * 2);
    const match: CornerMatch[][] = [[[[0, 0], [4, 4]], [[1, 2], [3, 3]]], [], [[[2, 2], [4, 1]]]];
    const all = associativeEmbeddingLoss({ tlEmb: tl, brEmb: br, match });
    const per = match.map((m, i) => {
      const one = (t: TensorData): TensorData => ({ data: t.data.slice(i * 25, (i + 1) * 25), shape: [1, 1, 5, 5] });
      return associativeEmbeddingLoss({ tlEmb: one(tl), brEmb: one(br), match: [m] });
    });
    assertClose([all.pull, all.push], [per.reduce((s, p) => s + p.pull, 0), per.reduce((s, p) => s + p.push, 0)], 1e-6, 1e-9, 'sum');
    assert.ok(all.gradTlEmb.data.slice(25, 50).every((v) => v === 0), 'the empty image gets no gradient');
  });

  for (const M of [1, 2]) {
    it(`has the gradient of finite differences (M = ${M}, shared cells)`, () => {
      const r = rng(11 + M);
      const shape = [2, M, 6, 7];
      const tl = filled(shape, () => (r() - 0.5) * 1.2), br = filled(shape, () => (r() - 0.5) * 1.2);
      const match: CornerMatch[][] = [
        [[[0, 0], [3, 4]], [[1, 2], [5, 6]], [[1, 2], [4, 4]], [[2, 5], [5, 1]]],
        [[[3, 3], [5, 5]], [[0, 6], [4, 2]], [[0, 6], [4, 2]]],
      ];
      const res = associativeEmbeddingLoss({ tlEmb: tl, brEmb: br, match });
      const total = (t: TensorData, b: TensorData) => {
        const q = associativeEmbeddingLoss({ tlEmb: t, brEmb: b, match });
        return q.pull + q.push;
      };
      const touched: number[] = [];
      res.gradTlEmb.data.forEach((v, i) => v !== 0 && touched.push(i));
      assert.ok(touched.length >= 5, 'gradient reaches the matched cells');
      checkGradient(tl, (x) => total(x, br), res.gradTlEmb.data, [...touched, 1, 2], 1e-3, 'tl_emb');
      checkGradient(br, (x) => total(tl, x), res.gradBrEmb.data, [...touched, 1, 2], 1e-3, 'br_emb');
    });
  }

  it('rejects a match outside the map or naming a missing image', () => {
    const e = filled([1, 1, 3, 3], () => 0);
    assert.throws(() => associativeEmbeddingLoss({ tlEmb: e, brEmb: e, match: [[[[0, 0], [3, 1]]]] }), /outside the 3x3 map/);
    assert.throws(() => associativeEmbeddingLoss({ tlEmb: e, brEmb: e, match: [[], [[[0, 0], [1, 1]]]] }), /argument 'match'.*image 1/);
  });
});

describe('losses: maskedSmoothL1Loss', () => {
  it('hand-computed: 0.5 d^2 below beta, |d| - 0.5 above, over max(1, sum(mask))', () => {
    const pred = { data: Float32Array.from([0.5, 3, 0, 0]), shape: [1, 2, 1, 2] };
    const target = filled([1, 2, 1, 2], () => 0);
    const mask = { data: Float32Array.from([1, 0]), shape: [1, 1, 1, 2] };
    // cell 0 is masked in: channel 0 d = 0.5 -> 0.125, channel 1 d = 0 -> 0
    const r = maskedSmoothL1Loss({ pred, target, mask });
    assertClose([r.loss], [0.125 / (1 + 1.1920929e-7)], 1e-6, 0, 'loss');
    const r2 = maskedSmoothL1Loss({ pred: { data: Float32Array.from([0.5, 0, 3, 0]), shape: [1, 2, 1, 2] }, target, mask });
    assertClose([r2.loss], [(0.125 + 2.5) / (1 + 1.1920929e-7)], 1e-6, 0, 'loss');
    assert.deepStrictEqual(Array.from(r2.gradPred.data), [Math.fround(0.5 / (1 + 1.1920929e-7)), 0, Math.fround(1 / (1 + 1.1920929e-7)), 0]);
  });

  it('has the gradient of finite differences', () => {
    const r = rng(5);
    const shape = [2, 2, 4, 5];
    // |pred - target| kept away from the kink at beta = 1 and from 0
    const pred = filled(shape, (i) => (i % 3 === 0 ? 2.5 : 0.4) * (r() < 0.5 ? -1 : 1) + (r() - 0.5) * 0.2);
    const target = filled(shape, () => 0);
    const mask = filled([2, 1, 4, 5], () => (r() < 0.4 ? 1 : 0));
    const res = maskedSmoothL1Loss({ pred, target, mask });
    checkGradient(pred, (x) => maskedSmoothL1Loss({ pred: x, target, mask }).loss, res.gradPred.data,
      Array.from({ length: pred.data.length }, (_, i) => i), 1e-3, 'offsets');
  });
});

describe('losses: cornerHeadLosses against the reference (model-parity fixtures)', () => {
  const cases = JSON.parse(fs.readFileSync(path.join(parityDir, 'losses.json'), 'utf8')).cases as {
    name: string;
    input: string;
    gt_bboxes: number[][][];
    gt_labels: number[][];
    losses: Record<'det_loss' | 'off_loss' | 'pull_loss' | 'push_loss', number[]>;
    params_without_grad: string[];
  }[];
  const names = ['tl_heat', 'br_heat', 'tl_emb', 'br_emb', 'tl_off', 'br_off'] as const;

  function levelArgs(c: (typeof cases)[number], level: number) {
    const t = cornerTargets({
      images: c.gt_bboxes.map((boxes, i) => ({ boxes, labels: c.gt_labels[i] as number[] })),
      numClasses: 3,
      featureSize: [16, 16],
      padSize: [64, 64],
    });
    const o = Object.fromEntries(names.map((n) => [n, readNpy(path.join(parityDir, `train_${n}_l${level}.npy`))]));
    return {
      tlHeat: o.tl_heat!, brHeat: o.br_heat!, tlEmb: o.tl_emb!, brEmb: o.br_emb!, tlOff: o.tl_off!, brOff: o.br_off!,
      tlHeatmap: t.tlHeatmap, brHeatmap: t.brHeatmap, tlOffset: t.tlOffset, brOffset: t.brOffset, match: t.match,
    };
  }

  // The train-mode head outputs are those of input.npy, the input of these cases.
  for (const name of ['single', 'empty']) {
    it(`case '${name}': det/off/pull/push of both levels`, () => {
      const c = cases.find((k) => k.name === name)!;
      assert.strictEqual(c.input, 'input.npy');
      for (const level of [0, 1]) {
        const r = cornerHeadLosses(levelArgs(c, level));
        const ref = c.losses;
        assertClose([r.det, r.off, r.pull, r.push],
          [ref.det_loss[level]!, ref.off_loss[level]!, ref.pull_loss[level]!, ref.push_loss[level]!], 1e-4, 1e-7, `level ${level}`);
        // The reference lists br_emb among the parameters without a gradient exactly when no image has a box.
        assert.strictEqual(r.brEmbHasGrad, !c.params_without_grad.some((k) => k.startsWith(`bbox_head.br_emb.${level}.`)));
      }
    });
  }

  it("case 'single': head-output gradients sum to the reference's gradients of the final conv biases", () => {
    // Each level's 1x1 prediction conv feeds only that level's loss, so the
    // gradient of its bias is the gradient w.r.t. its output summed over N, H, W.
    const grads = loadSafetensors(path.join(parityDir, 'grads_single.safetensors')).tensors;
    const c = cases.find((k) => k.name === 'single')!;
    for (const level of [0, 1]) {
      const r = cornerHeadLosses(levelArgs(c, level));
      const byName = { tl_heat: r.gradTlHeat, br_heat: r.gradBrHeat, tl_emb: r.gradTlEmb, br_emb: r.gradBrEmb, tl_off: r.gradTlOff, br_off: r.gradBrOff };
      for (const n of names) {
        const g = byName[n];
        const [, C, H, W] = g.shape as [number, number, number, number];
        const sums = new Array<number>(C).fill(0);
        g.data.forEach((v, i) => (sums[Math.floor(i / (H * W)) % C]! += v));
        const ref = grads.get(`bbox_head.${n}.${level}.1.conv.bias`);
        assert.ok(ref, `bbox_head.${n}.${level}.1.conv.bias in grads_single`);
        assertClose(sums, ref.data as Float32Array, 1e-3, 1e-6, `${n} level ${level}`);
      }
    }
  });

  it('the async form gives the same result', async () => {
    const c = cases.find((k) => k.name === 'single')!;
    const a = levelArgs(c, 1);
    const [s, p] = [cornerHeadLosses(a), await cornerHeadLossesAsync(a)];
    assert.deepStrictEqual([p.det, p.off, p.pull, p.push], [s.det, s.off, s.pull, s.push]);
    assert.deepStrictEqual(p.gradTlHeat.data, s.gradTlHeat.data);
  });

  // cornerHeadLosses runs on every backend (test/native/training_ops_cuda.test.ts); the single losses on the host only.
  it('the single losses refuse a non-CPU backend by name', function () {
    const logits = filled([1, 1, 2, 2], (i) => i - 1.5), gt = filled([1, 1, 2, 2], (i) => (i === 0 ? 1 : 0));
    assert.throws(() => gaussianFocalLoss({ logits, gt }, { backend: 'cuda-emu' }), /backend/);
  });
});
