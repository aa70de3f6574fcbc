// The CUDA kernels of the training targets and losses (native/cuda/targets.cu,
// losses.cu), run on the 'cuda-emu' backend against the CPU backend:
//   cornerTargets      exact (bit for bit), matching pairs identical;
//   cornerHeadLosses   det/off/pull/push within 1e-6 relative, gradients within
//                      1e-5 relative + 1e-6 of the largest |gradient|, and the
//                      brEmbHasGrad flag identical; two runs give the same bits.
// Cases: the model-parity fixtures' targets and train-mode head outputs, and
// random small batches (an image without boxes, boxes at the border, same-class
// boxes overlapping or sharing a corner cell, crowd boxes, K = 1 images without
// push, odd feature sizes, M = 1 and 2 embedding dimensions).
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import {
  availableBackends,
  cornerHeadLosses,
  cornerTargets,
  type CornerHeadLossArgs,
  type CornerHeadLossResult,
  type CornerTargetsArgs,
  type TensorData,
} from '../../lib/ops';
import { readNpy } from '../helpers/npy';
import { parityDir } from '../helpers/parity_dir';
import { filled, uniform01 as rng } from '../helpers/random_tensor';

const EMU = { backend: 'cuda-emu' };

function assertBitsEqual(a: TensorData, b: TensorData, what: string) {
  assert.deepStrictEqual(a.shape, b.shape, `${what}: shape`);
  for (let i = 0; i < b.data.length; i++)
    if (!Object.is(a.data[i], b.data[i])) assert.fail(`${what}[${i}]: cuda-emu ${a.data[i]}, cpu ${b.data[i]}`);
}

function assertTargetsEqual(args: CornerTargetsArgs, what: string) {
  const cpu = cornerTargets(args);
  const emu = cornerTargets(args, EMU);
  for (const k of ['tlHeatmap', 'brHeatmap', 'tlOffset', 'brOffset', 'tlMask', 'brMask'] as const)
    assertBitsEqual(emu[k], cpu[k], `${what} ${k}`);
  assert.deepStrictEqual(emu.match, cpu.match, `${what} match`);
}

const GRAD_KEYS = ['gradTlHeat', 'gradBrHeat', 'gradTlEmb', 'gradBrEmb', 'gradTlOff', 'gradBrOff'] as const;

function assertLossesClose(emu: CornerHeadLossResult, cpu: CornerHeadLossResult, what: string) {
  for (const k of ['det', 'off', 'pull', 'push'] as const) {
    const a = emu[k], e = cpu[k];
    if (!(Math.abs(a - e) <= 1e-6 * Math.abs(e) + 1e-12)) assert.fail(`${what} ${k}: cuda-emu ${a}, cpu ${e}`);
  }
  assert.strictEqual(emu.brEmbHasGrad, cpu.brEmbHasGrad, `${what} brEmbHasGrad`);
  for (const k of GRAD_KEYS) {
    const a = emu[k], e = cpu[k];
    assert.deepStrictEqual(a.shape, e.shape, `${what} ${k} shape`);
    const scale = e.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < e.data.length; i++) {
      const x = a.data[i] as number, y = e.data[i] as number;
      if (!(Math.abs(x - y) <= 1e-5 * Math.abs(y) + 1e-6 * scale))
        assert.fail(`${what} ${k}[${i}]: cuda-emu ${x}, cpu ${y} (max |grad| ${scale})`);
    }
  }
}

function compareLosses(args: CornerHeadLossArgs, what: string) {
  const cpu = cornerHeadLosses(args);
  const emu = cornerHeadLosses(args, EMU);
  assertLossesClose(emu, cpu, what);
  return { cpu, emu };
}

// A random batch: per image a list of boxes (some at the border, some sharing
// a class and overlapping), image `empty` without boxes.
function randomImages(seed: number, n: number, pad: [number, number], classes: number, empty: number, maxBoxes: number) {
  const r = rng(seed);
  const [ph, pw] = pad;
  return Array.from({ length: n }, (_, i) => {
    if (i === empty) return { boxes: [] as number[][], labels: [] as number[], crowd: [] as boolean[] };
    const boxes: number[][] = [], labels: number[] = [], crowd: boolean[] = [];
    const k = 1 + Math.floor(r() * maxBoxes);
    for (let j = 0; j < k; j++) {
      const x1 = r() * pw * 0.8, y1 = r() * ph * 0.8;
      const x2 = Math.min(pw, x1 + 1 + r() * pw * 0.6), y2 = Math.min(ph, y1 + 1 + r() * ph * 0.6);
      boxes.push([x1, y1, x2, y2]);
      labels.push(Math.floor(r() * classes));
      crowd.push(r() < 0.1);
    }
    // At the border: corners on and beyond the last cell, and at 0.
    boxes.push([0, 0, pw, ph]);
    labels.push(0);
    crowd.push(false);
    boxes.push([pw * 0.5, ph * 0.6, pw, ph]);
    labels.push(classes - 1);
    crowd.push(false);
    // Same class, overlapping, and one sharing the first box's top-left cell (its offset overwrites).
    const b0 = boxes[0]!;
    boxes.push([b0[0]! + 0.01, b0[1]! + 0.01, Math.min(pw, b0[2]! + 3), Math.min(ph, b0[3]! + 2)]);
    labels.push(labels[0]!);
    crowd.push(false);
    return { boxes, labels, crowd };
  });
}

const hasEmu = availableBackends().includes('cuda-emu');

describe('training ops on cuda-emu: cornerTargets against the CPU (exact)', function () {
  before(function () {
    if (!hasEmu) this.skip();
  });

  const cases = JSON.parse(fs.readFileSync(path.join(parityDir, 'losses.json'), 'utf8')).cases as {
    name: string;
    gt_bboxes: number[][][];
    gt_labels: number[][];
  }[];
  for (const name of ['single', 'batch2', 'empty']) {
    it(`model-parity case '${name}'`, () => {
      const c = cases.find((k) => k.name === name)!;
      assertTargetsEqual(
        {
          images: c.gt_bboxes.map((boxes, i) => ({ boxes, labels: c.gt_labels[i] as number[] })),
          numClasses: 3,
          featureSize: [16, 16],
          padSize: [64, 64],
        },
        name
      );
    });
  }

  it('random batches: empty image, border boxes, same-class overlaps, shared cells, crowd, odd sizes', () => {
    for (const [seed, feat, pad] of [
      [1, [16, 16], [64, 64]],
      [2, [13, 17], [51, 70]],
      [3, [9, 7], [40, 29]],
    ] as [number, [number, number], [number, number]][]) {
      const images = randomImages(seed, 3, pad, 3, seed % 3, 5);
      assertTargetsEqual({ images, numClasses: 3, featureSize: feat, padSize: pad }, `seed ${seed}`);
    }
  });

  it('a batch without any box, and a large box whose Gaussian covers the map', () => {
    assertTargetsEqual({ images: [{ boxes: [], labels: [] }, { boxes: [], labels: [] }], numClasses: 2, featureSize: [8, 8], padSize: [32, 32] }, 'no boxes');
    assertTargetsEqual({ images: [{ boxes: [[0.5, 0.5, 127.5, 127.5]], labels: [1] }], numClasses: 2, featureSize: [32, 32], padSize: [128, 128] }, 'large');
  });

  it('rejects a bad box as the CPU does', () => {
    const args = { images: [{ boxes: [[5, 5, 2, 9]], labels: [0] }], numClasses: 1, featureSize: 8, padSize: 32 };
    assert.throws(() => cornerTargets(args, EMU), /box 0 of image 0/);
  });
});

describe('training ops on cuda-emu: cornerHeadLosses against the CPU', function () {
  before(function () {
    if (!hasEmu) this.skip();
  });

  const cases = JSON.parse(fs.readFileSync(path.join(parityDir, 'losses.json'), 'utf8')).cases as {
    name: string;
    gt_bboxes: number[][][];
    gt_labels: number[][];
  }[];
  const names = ['tl_heat', 'br_heat', 'tl_emb', 'br_emb', 'tl_off', 'br_off'] as const;

  for (const name of ['single', 'empty']) {
    it(`model-parity case '${name}', both levels`, () => {
      const c = cases.find((k) => k.name === name)!;
      const t = cornerTargets({
        images: c.gt_bboxes.map((boxes, i) => ({ boxes, labels: c.gt_labels[i] as number[] })),
        numClasses: 3,
        featureSize: [16, 16],
        padSize: [64, 64],
      });
      for (const level of [0, 1]) {
        const o = Object.fromEntries(names.map((n) => [n, readNpy(path.join(parityDir, `train_${n}_l${level}.npy`))]));
        compareLosses(
          {
            tlHeat: o.tl_heat!, brHeat: o.br_heat!, tlEmb: o.tl_emb!, brEmb: o.br_emb!, tlOff: o.tl_off!, brOff: o.br_off!,
            tlHeatmap: t.tlHeatmap, brHeatmap: t.brHeatmap, tlOffset: t.tlOffset, brOffset: t.brOffset, match: t.match,
          },
          `${name} level ${level}`
        );
      }
    });
  }

  function randomArgs(seed: number, n: number, C: number, M: number, feat: [number, number], images: ReturnType<typeof randomImages>) {
    const r = rng(seed * 7919);
    const [H, W] = feat;
    const t = cornerTargets({ images, numClasses: C, featureSize: feat, padSize: [H * 4, W * 4] });
    // Logits over a wide range, exact zeros and saturating values included.
    const logit = () => {
      const u = r();
      return u < 0.05 ? 0 : u < 0.1 ? (r() < 0.5 ? -40 : 40) : (r() - 0.5) * 16;
    };
    return {
      tlHeat: filled([n, C, H, W], logit),
      brHeat: filled([n, C, H, W], logit),
      tlEmb: filled([n, M, H, W], () => (r() - 0.5) * 3),
      brEmb: filled([n, M, H, W], () => (r() - 0.5) * 3),
      tlOff: filled([n, 2, H, W], () => (r() - 0.5) * 4),
      brOff: filled([n, 2, H, W], () => (r() - 0.5) * 4),
      tlHeatmap: t.tlHeatmap, brHeatmap: t.brHeatmap, tlOffset: t.tlOffset, brOffset: t.brOffset, match: t.match,
      pullWeight: 0.1 + 0.2 * r(),
      pushWeight: 0.1 + 0.2 * r(),
      offsetBeta: 0.5 + r(),
    };
  }

  it('random batches: empty image, border and overlapping boxes, shared cells, M = 1 and 2', () => {
    for (const [seed, M, feat] of [
      [11, 1, [16, 16]],
      [12, 2, [13, 11]],
      [13, 1, [7, 9]],
    ] as [number, number, [number, number]][]) {
      const images = randomImages(seed, 3, [feat[0] * 4, feat[1] * 4], 3, 1, 6);
      compareLosses(randomArgs(seed, 3, 3, M, feat, images), `seed ${seed}`);
    }
  });

  it('K = 1 (pull only, no push), and images whose boxes share both corner cells', () => {
    const one = [{ boxes: [[3, 5, 30, 41]], labels: [1] }, { boxes: [[0, 0, 63, 63]], labels: [0] }];
    const { cpu } = compareLosses(randomArgs(21, 2, 2, 1, [16, 16], one as never), 'K = 1');
    assert.strictEqual(cpu.push, 0);
    assert.ok(cpu.pull > 0);
    const same = [{ boxes: [[3, 5, 30, 41], [3, 5, 30, 41], [3.1, 5.2, 30.3, 41.2]], labels: [1, 1, 0] }];
    compareLosses(randomArgs(22, 1, 2, 2, [16, 16], same as never), 'shared cells');
  });

  it('a batch without objects: no br_emb gradient flag, zero embedding terms', () => {
    const none = [{ boxes: [], labels: [] }, { boxes: [], labels: [] }];
    const { emu } = compareLosses(randomArgs(31, 2, 2, 1, [8, 8], none as never), 'no objects');
    assert.strictEqual(emu.brEmbHasGrad, false);
    assert.deepStrictEqual([emu.pull, emu.push], [0, 0]);
    assert.ok(emu.gradTlEmb.data.every((v) => v === 0));
  });

  it('is deterministic: two runs give the same bits', () => {
    const images = randomImages(41, 2, [48, 48], 2, -1, 4);
    const a = randomArgs(41, 2, 2, 1, [12, 12], images);
    const x = cornerHeadLosses(a, EMU), y = cornerHeadLosses(a, EMU);
    assert.deepStrictEqual([x.det, x.off, x.pull, x.push], [y.det, y.off, y.pull, y.push]);
    for (const k of GRAD_KEYS) assertBitsEqual(x[k], y[k], k);
  });

  it('many cells: the reductions span several blocks per thread (grid-stride)', function () {
    this.timeout(600000);
    // 1 x 80 x 64 x 64 = 327,680 cells > 1024 blocks x 256 threads.
    const images = randomImages(51, 1, [256, 256], 80, -1, 8);
    compareLosses(randomArgs(51, 1, 80, 1, [64, 64], images), 'many cells');
  });
});
