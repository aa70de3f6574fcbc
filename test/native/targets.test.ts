// CornerNet training targets: hand-computed cases (radius per box size, same-class
// peaks, borders, offsets, crowd boxes) and the reference's targets for the
// model-parity loss cases.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { cornerTargets, cornerTargetsAsync, type CornerTargetsArgs, type TensorData } from '../../lib/ops';
import { readNpy } from '../helpers/npy';
import { parityDir } from '../helpers/parity_dir';

const at = (t: TensorData, n: number, c: number, y: number, x: number): number => {
  const [, C, H, W] = t.shape as [number, number, number, number];
  return t.data[((n * C + c) * H + y) * W + x] as number;
};

// The CornerNet radius (min_overlap 0.3), written out independently of the engine.
function radius(h: number, w: number): number {
  const o = 0.3;
  const b1 = h + w, c1 = (w * h * (1 - o)) / (1 + o);
  const r1 = (b1 - Math.sqrt(b1 * b1 - 4 * c1)) / 2;
  const b2 = 2 * (h + w), c2 = (1 - o) * w * h;
  const r2 = (b2 - Math.sqrt(b2 * b2 - 16 * c2)) / 8;
  const a3 = 4 * o, b3 = -2 * o * (h + w), c3 = (o - 1) * w * h;
  const r3 = (b3 + Math.sqrt(b3 * b3 - 4 * a3 * c3)) / (2 * a3);
  return Math.max(0, Math.trunc(Math.min(r1, r2, r3)));
}

const one = (boxes: number[][], labels: number[], extra: Partial<CornerTargetsArgs> = {}): CornerTargetsArgs => ({
  images: [{ boxes, labels }],
  numClasses: 2,
  featureSize: [128, 128],
  padSize: [128, 128],
  ...extra,
});

// Half-width of the non-zero run through (y, x) along the row, on each side.
function extent(t: TensorData, c: number, y: number, x: number): [number, number] {
  let l = 0, r = 0;
  while (x - l - 1 >= 0 && at(t, 0, c, y, x - l - 1) > 0) l++;
  while (x + r + 1 < (t.shape[3] as number) && at(t, 0, c, y, x + r + 1) > 0) r++;
  return [l, r];
}

describe('targets: cornerTargets (hand-computed)', () => {
  const sideToRadius: [number, number][] = [[8, 1], [16, 3], [32, 7], [64, 14]];
  for (const [side, r] of sideToRadius) {
    it(`a square of side ${side} cells has a Gaussian of radius ${r}`, () => {
      assert.strictEqual(radius(side, side), r, 'independent formula');
      const t = cornerTargets(one([[40, 30, 40 + side, 30 + side]], [1]));
      assert.strictEqual(at(t.tlHeatmap, 0, 1, 30, 40), 1);
      assert.strictEqual(at(t.brHeatmap, 0, 1, 30 + side, 40 + side), 1);
      assert.deepStrictEqual(extent(t.tlHeatmap, 1, 30, 40), [r, r]);
      assert.deepStrictEqual(extent(t.brHeatmap, 1, 30 + side, 40 + side), [r, r]);
      // sigma = (2r + 1) / 6; the neighbour holds exp(-1 / (2 sigma^2)) in float32
      const sigma = (2 * r + 1) / 6;
      const g1 = Math.fround(Math.exp(-1 / Math.fround(2 * sigma * sigma)));
      assert.ok(Math.abs(at(t.tlHeatmap, 0, 1, 30, 41) - g1) < 1e-6);
      assert.ok(t.tlHeatmap.data.every((v, i) => i >= 128 * 128 || v === 0), 'class 0 stays empty');
    });
  }

  it('rectangles use the radius of (ceil(h), ceil(w)) in cells', () => {
    for (const [w, h] of [[10, 40], [3, 5], [60, 7], [22.5, 13.2]]) {
      const t = cornerTargets(one([[30, 20, 30 + w, 20 + h]], [0]));
      const r = radius(Math.ceil(h), Math.ceil(w));
      assert.deepStrictEqual(extent(t.tlHeatmap, 0, 20, 30), [r, r], `box ${w}x${h}`);
    }
  });

  it('two objects of the same class keep both peaks (element-wise max, not sum, not overwrite)', () => {
    const t = cornerTargets(one([[10, 10, 42, 42], [13, 10, 45, 42]], [0, 0]));
    assert.strictEqual(at(t.tlHeatmap, 0, 0, 10, 10), 1);
    assert.strictEqual(at(t.tlHeatmap, 0, 0, 10, 13), 1);
    // between them: each bump's value at distance 1 and 2; the larger one stays
    const sigma = 15 / 6;
    const g = (d: number) => Math.fround(Math.exp(-(d * d) / Math.fround(2 * sigma * sigma)));
    assert.ok(Math.abs(at(t.tlHeatmap, 0, 0, 10, 11) - Math.max(g(1), g(2))) < 1e-6);
    assert.ok(Math.abs(at(t.tlHeatmap, 0, 0, 10, 12) - Math.max(g(2), g(1))) < 1e-6);
    assert.strictEqual(t.tlMask.data.reduce((a, b) => a + b, 0), 2);
    assert.deepStrictEqual(t.match, [[[[10, 10], [42, 42]], [[10, 13], [42, 45]]]]);
  });

  it('boxes at the border: cells clamp to the last one, Gaussians are cropped, offsets can reach 1', () => {
    const t = cornerTargets({ images: [{ boxes: [[0, 0, 64, 64]], labels: [1] }], numClasses: 2, featureSize: [16, 16], padSize: [64, 64] });
    assert.deepStrictEqual(t.match, [[[[0, 0], [15, 15]]]]);
    assert.strictEqual(at(t.tlHeatmap, 0, 1, 0, 0), 1);
    assert.strictEqual(at(t.brHeatmap, 0, 1, 15, 15), 1);
    // 64 * 16/64 = 16 lands on cell 15 with offset 1.0
    assert.strictEqual(at(t.brOffset, 0, 0, 15, 15), 1);
    assert.strictEqual(at(t.brOffset, 0, 1, 15, 15), 1);
    assert.strictEqual(at(t.tlOffset, 0, 0, 0, 0), 0);
    // radius of a 16x16-cell box is 3: the bump covers (3+1)^2 cells of the corner quadrant
    const nz = (x: TensorData) => x.data.filter((v) => v > 0).length;
    assert.strictEqual(nz(t.tlHeatmap), 16);
    assert.strictEqual(nz(t.brHeatmap), 16);
    assert.ok(t.tlHeatmap.data.every(Number.isFinite));
  });

  it('offsets are the fractional parts of the scaled corners (channel 0 = x, 1 = y), in float32', () => {
    const t = cornerTargets({ images: [{ boxes: [[5.3, 7.9, 30.2, 41.6]], labels: [0] }], numClasses: 1, featureSize: [16, 16], padSize: [64, 64] });
    const f = Math.fround;
    const s = (v: number) => f(f(v) * 0.25);
    assert.deepStrictEqual(t.match, [[[[1, 1], [10, 7]]]]);
    assert.strictEqual(at(t.tlOffset, 0, 0, 1, 1), f(s(5.3) - 1));
    assert.strictEqual(at(t.tlOffset, 0, 1, 1, 1), f(s(7.9) - 1));
    assert.strictEqual(at(t.brOffset, 0, 0, 10, 7), f(s(30.2) - 7));
    assert.strictEqual(at(t.brOffset, 0, 1, 10, 7), f(s(41.6) - 10));
    assert.strictEqual(t.tlOffset.data.filter((v) => v !== 0).length, 2);
  });

  it('uses the exact feature/input ratio (128/511 is not 1/4) and truncates', () => {
    const t = cornerTargets({ images: [{ boxes: [[399.9, 200, 450, 380]], labels: [0] }], numClasses: 1, featureSize: [128, 128], padSize: [511, 511] });
    const ratio = Math.fround(128 / 511);
    const cell = (v: number) => Math.trunc(Math.fround(v * ratio));
    assert.deepStrictEqual(t.match, [[[[cell(200), cell(399.9)], [cell(380), cell(450)]]]]);
    assert.strictEqual(cell(399.9), 100);
    assert.strictEqual(Math.trunc(399.9 / 4), 99, 'the case distinguishes 128/511 from 1/4');
  });

  it('crowd boxes are left out of every target and of the embedding pairs', () => {
    const t = cornerTargets({
      images: [{ boxes: [[4, 4, 40, 40], [50, 50, 90, 90]], labels: [0, 1], crowd: [true, false] }],
      numClasses: 2, featureSize: [128, 128], padSize: [128, 128],
    });
    assert.deepStrictEqual(t.match, [[[[50, 50], [90, 90]]]]);
    assert.ok(t.tlHeatmap.data.slice(0, 128 * 128).every((v) => v === 0));
    assert.strictEqual(at(t.tlOffset, 0, 0, 4, 4), 0);
  });

  it('images without boxes give empty targets; every image keeps its own slot', () => {
    const t = cornerTargets({ images: [{ boxes: [], labels: [] }, { boxes: [[8, 8, 24, 24]], labels: [0] }], numClasses: 1, featureSize: [8, 8], padSize: [32, 32] });
    assert.deepStrictEqual(t.tlHeatmap.shape, [2, 1, 8, 8]);
    assert.ok(t.tlHeatmap.data.slice(0, 64).every((v) => v === 0));
    assert.deepStrictEqual(t.match, [[], [[[2, 2], [6, 6]]]]);
  });

  it('bad boxes and labels give errors naming the box and image', () => {
    const a = (boxes: number[][], labels: number[]) => () =>
      cornerTargets({ images: [{ boxes: [], labels: [] }, { boxes, labels }], numClasses: 2, featureSize: [8, 8], padSize: [32, 32] });
    assert.throws(a([[-3, 0, 5, 5]], [0]), /box 0 of image 1: x1 = -3 is negative/);
    assert.throws(a([[1, 1, 5, 5], [6, 1, 5, 5]], [0, 1]), /box 1 of image 1: .* has x2 < x1/);
    assert.throws(a([[1, 1, NaN, 5]], [0]), /box 0 of image 1: x2 is not a finite number/);
    assert.throws(a([[1, 1, 5, 5]], [2]), /argument 'labels'.*not a class index in \[0, 2\)/);
    assert.throws(() => cornerTargets({ images: [], numClasses: 0, featureSize: 8, padSize: 32 }), /argument 'numClasses'/);
  });
});

describe('targets: cornerTargets against the reference (model-parity fixtures)', () => {
  const cases = JSON.parse(fs.readFileSync(path.join(parityDir, 'losses.json'), 'utf8')).cases as {
    name: string;
    gt_bboxes: number[][][];
    gt_labels: number[][];
    corner_embedding_match: unknown;
  }[];
  const files = [
    ['tlHeatmap', 'topleft_heatmap'],
    ['brHeatmap', 'bottomright_heatmap'],
    ['tlOffset', 'topleft_offset'],
    ['brOffset', 'bottomright_offset'],
  ] as const;

  for (const name of ['single', 'batch2', 'empty']) {
    it(`case '${name}': heatmaps, offsets (atol 1e-6) and embedding pairs`, async () => {
      const c = cases.find((k) => k.name === name)!;
      const args: CornerTargetsArgs = {
        images: c.gt_bboxes.map((boxes, i) => ({ boxes, labels: c.gt_labels[i] as number[] })),
        numClasses: 3,
        featureSize: [16, 16],
        padSize: [64, 64],
      };
      const t = await cornerTargetsAsync(args);
      for (const [key, file] of files) {
        const ref = readNpy(path.join(parityDir, `target_${name}_${file}.npy`));
        assert.deepStrictEqual(t[key].shape, ref.shape, key);
        ref.data.forEach((v, i) => {
          if (!(Math.abs((t[key].data[i] as number) - v) <= 1e-6)) assert.fail(`${key}[${i}]: got ${t[key].data[i]}, expected ${v}`);
        });
      }
      assert.deepStrictEqual(t.match, c.corner_embedding_match);
      assert.deepStrictEqual(cornerTargets(args).tlHeatmap.data, t.tlHeatmap.data, 'sync and async agree');
    });
  }
});
