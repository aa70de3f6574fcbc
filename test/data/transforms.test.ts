import { strict as assert } from 'assert';

import type { TensorData } from '../../lib/native';
import { imageTransform, imageTransformAsync, type ImageTransformArgs } from '../../lib/data/pixel_ops';
import { Rng } from '../../lib/data/rng';
import { cropBorder, IMG_NORM, REFERENCE_AUGMENT, trainConfigAtSize, trainConfigFor, imageBoxToTest, planTest, planTrain, REFERENCE_TEST, REFERENCE_TRAIN, testBoxToImage, trainBoxToImage, type TrainTransformConfig } from '../../lib/data/transforms';

const norm = { mean: { data: Float32Array.from(IMG_NORM.mean), shape: [3] }, std: { data: Float32Array.from(IMG_NORM.std), shape: [3] } };
const unit = { mean: { data: new Float32Array([0, 0, 0]), shape: [3] }, std: { data: new Float32Array([1, 1, 1]), shape: [3] } };

function image(w: number, h: number, f: (x: number, y: number, c: number) => number): TensorData {
  const d = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) d[(y * w + x) * 3 + c] = f(x, y, c);
  return { data: d, shape: [h, w, 3] };
}

/** Runs one pixel through the photometric step (no crop, no normalisation). */
function photo(rgb: [number, number, number], p: Partial<ImageTransformArgs>): number[] {
  const y = imageTransform({
    image: image(1, 1, (_x, _y, c) => rgb[c]!),
    windowX: 0, windowY: 0, windowWidth: 1, windowHeight: 1, pasteX: 0, pasteY: 0,
    canvas: [1, 1], size: [1, 1], flip: false, ...unit, photometric: true, ...p,
  });
  return [...y.data];
}

const close = (a: number[], b: number[], tol: number) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= tol, `${a} vs ${b}`));

describe('data/transforms', () => {
  it('trainConfigAtSize keeps the reference settings at another input size', () => {
    const c = trainConfigAtSize(128);
    assert.deepEqual(c.cropSize, [128, 128]);
    assert.deepEqual(c.outSize, [128, 128]);
    assert.deepEqual(c.ratios, REFERENCE_TRAIN.ratios);
    assert.equal(c.photometric, REFERENCE_TRAIN.photometric);
    assert.throws(() => trainConfigAtSize(0), /size must be an integer >= 8/);
  });

  it("trainConfigFor applies a config's augmentation (data.augment) to the reference pipeline", () => {
    assert.deepEqual(trainConfigFor(128, REFERENCE_AUGMENT), trainConfigAtSize(128));
    const c = trainConfigFor(96, { photometric: false, cropRatios: [1], flipRatio: 0 });
    assert.deepEqual([c.cropSize, c.outSize, c.ratios, c.flipRatio, c.photometric], [[96, 96], [96, 96], [1], 0, null]);
    const box = Float32Array.from([20, 20, 60, 50]);
    for (let seed = 0; seed < 20; seed++) {
      const plan = planTrain(new Rng(seed), 150, 120, box, Int32Array.from([0]), c, { mean: { data: new Float32Array(3), shape: [3] }, std: { data: new Float32Array([1, 1, 1]), shape: [3] } });
      assert.deepEqual([plan.ratio, plan.affine.flip, plan.photometric, plan.args.canvas], [1, false, null, [96, 96]]);
    }
  });

  it('cropBorder follows RandomCenterCropPad._get_border', () => {
    assert.equal(cropBorder(128, 511), 128);
    assert.equal(cropBorder(128, 640), 128);
    assert.equal(cropBorder(128, 257), 128);
    assert.equal(cropBorder(128, 256), 64);
    assert.equal(cropBorder(128, 200), 64);
    assert.equal(cropBorder(128, 128), 32);
    assert.equal(cropBorder(128, 64), 16);
  });

  describe('photometric distortion (OpenCV float HSV, no clipping)', () => {
    it('with neutral parameters the HSV round trip leaves ordinary pixels unchanged', () => {
      close(photo([200, 100, 50], {}), [200, 100, 50], 1e-3);
      close(photo([0, 0, 0], {}), [0, 0, 0], 1e-6);
      close(photo([17, 230, 99], {}), [17, 230, 99], 1e-3);
    });
    it('hue +120 degrees turns red into green; -120 into blue', () => {
      close(photo([255, 0, 0], { hue: 120 }), [0, 255, 0], 1e-3);
      close(photo([255, 0, 0], { hue: -120 }), [0, 0, 255], 1e-3);
    });
    it('saturation 0 gives grey at V = max(R, G, B)', () => {
      close(photo([200, 100, 50], { saturation: 0 }), [200, 200, 200], 1e-3);
    });
    it('brightness adds, contrast multiplies, before or after the HSV step', () => {
      close(photo([10, 20, 30], { brightness: 10, contrast: 2, contrastFirst: true }), [40, 60, 80], 1e-3);
      close(photo([10, 20, 30], { brightness: 10, contrast: 2, contrastFirst: false }), [40, 60, 80], 1e-3);
      // Values beyond 255 are kept (mmdet v2 does not clip).
      close(photo([200, 200, 200], { contrast: 1.5 }), [300, 300, 300], 1e-3);
    });
    it('channel order permutes the output channels', () => {
      close(photo([10, 20, 30], { channelOrder: [2, 1, 0] }), [30, 20, 10], 1e-3);
      close(photo([10, 20, 30], { channelOrder: [1, 2, 0] }), [20, 30, 10], 1e-3);
    });
  });

  it('normalises with the config mean/std in RGB order; padding becomes 0', () => {
    const img = image(4, 4, (_x, _y, c) => [200, 100, 50][c]!);
    const y = imageTransform({ image: img, windowX: 0, windowY: 0, windowWidth: 4, windowHeight: 4, pasteX: 2, pasteY: 0, canvas: [4, 8], size: [4, 8], flip: false, ...norm, photometric: false });
    assert.deepEqual(y.shape, [3, 4, 8]);
    for (let c = 0; c < 3; c++) {
      const expect = ([200, 100, 50][c]! - IMG_NORM.mean[c]!) / IMG_NORM.std[c]!;
      assert.ok(Math.abs(y.data[c * 32 + 3]! - expect) < 1e-5);
      assert.ok(Math.abs(y.data[c * 32 + 0]!) < 1e-5, 'padding normalises to 0');
      assert.ok(Math.abs(y.data[c * 32 + 7]!) < 1e-5);
    }
  });

  it('flip mirrors the output horizontally', () => {
    const img = image(7, 5, (x, y, c) => x * 10 + y + c * 100);
    const args: ImageTransformArgs = { image: img, windowX: 1, windowY: 0, windowWidth: 6, windowHeight: 5, pasteX: 0, pasteY: 1, canvas: [6, 6], size: [9, 11], flip: false, ...norm, photometric: false };
    const a = imageTransform(args), b = imageTransform({ ...args, flip: true });
    for (let c = 0; c < 3; c++) for (let yy = 0; yy < 9; yy++) for (let x = 0; x < 11; x++) assert.equal(a.data[c * 99 + yy * 11 + x], b.data[c * 99 + yy * 11 + (10 - x)]);
  });

  it('resizes like OpenCV INTER_LINEAR (centres aligned, edges clamped)', () => {
    const img = image(4, 1, (x) => x * 10);
    const y = imageTransform({ image: img, windowX: 0, windowY: 0, windowWidth: 4, windowHeight: 1, pasteX: 0, pasteY: 0, canvas: [1, 4], size: [1, 8], flip: false, ...unit, photometric: false });
    // Source x = (d + 0.5) / 2 - 0.5: -0.25 (clamped to 0), 0.25, 0.75, ..., 3.25 (clamped to 3).
    close([...y.data.subarray(0, 8)], [0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30], 1e-4);
  });

  it('the async form gives the same result off the event loop', async () => {
    const img = image(30, 20, (x, y, c) => (x * 7 + y * 3 + c * 50) % 256);
    const args: ImageTransformArgs = { image: img, windowX: 3, windowY: 2, windowWidth: 20, windowHeight: 15, pasteX: 5, pasteY: 1, canvas: [24, 30], size: [17, 19], flip: true, ...norm, photometric: true, hue: 10, saturation: 1.2, brightness: -5, contrast: 1.1 };
    assert.deepEqual([...(await imageTransformAsync(args)).data], [...imageTransform(args).data]);
  });

  it('rejects a window outside the image with a clear message', () => {
    const img = image(10, 10, () => 0);
    assert.throws(
      () => imageTransform({ image: img, windowX: 5, windowY: 0, windowWidth: 8, windowHeight: 4, pasteX: 0, pasteY: 0, canvas: [10, 10], size: [10, 10], flip: false, ...norm, photometric: false }),
      /imageTransform: argument 'window' window \[x 5, y 0, w 8, h 4\] is not inside the 10x10 image/
    );
    assert.throws(() => imageTransform({ image: { data: new Float32Array(8), shape: [2, 2, 2] } } as never), /argument 'image' must be H x W x 3/);
  });

  describe('train plan (RandomCenterCropPad -> Resize -> RandomFlip)', () => {
    const cfg: TrainTransformConfig = { ...REFERENCE_TRAIN, cropSize: [120, 120], outSize: [96, 96], photometric: null };
    const W = 200, H = 150;
    const box: [number, number, number, number] = [60, 40, 100, 90];
    const img = image(W, H, (x, y) => (x >= box[0] && x < box[2] && y >= box[1] && y < box[3] ? 200 : 50));

    it('moves boxes with the pixels, and the inverse maps them back', () => {
      let flips = 0, clipped = 0;
      for (let seed = 0; seed < 40; seed++) {
        const plan = planTrain(new Rng(seed), W, H, Float32Array.from(box), Int32Array.from([3]), cfg, unit);
        assert.equal(plan.labels.length, 1, 'the only box has its centre inside (the crop insists on it)');
        assert.deepEqual([...plan.labels], [3]);
        const y = imageTransform({ image: img, ...plan.args });
        assert.deepEqual(y.shape, [3, 96, 96]);
        const [bx1, by1, bx2, by2] = plan.boxes;
        if (plan.affine.flip) flips++;
        // Well inside the mapped box: the rectangle's value; well outside: not.
        for (let yy = 0; yy < 96; yy++)
          for (let x = 0; x < 96; x++) {
            const cx = x + 0.5, cy = yy + 0.5;
            const v = y.data[yy * 96 + x]!;
            const inside = cx > bx1! + 1.5 && cx < bx2! - 1.5 && cy > by1! + 1.5 && cy < by2! - 1.5;
            const outside = cx < bx1! - 1.5 || cx > bx2! + 1.5 || cy < by1! - 1.5 || cy > by2! + 1.5;
            if (inside) assert.ok(Math.abs(v - 200) < 1e-3, `seed ${seed}: (${x},${yy}) inside box has ${v}`);
            if (outside) assert.ok(v < 199, `seed ${seed}: (${x},${yy}) outside box has ${v}`);
          }
        const back = trainBoxToImage(plan.affine, [bx1!, by1!, bx2!, by2!]);
        const wasClipped = plan.boxes[0]! <= 1e-6 || plan.boxes[1]! <= 1e-6 || plan.boxes[2]! >= 96 - 1e-4 || plan.boxes[3]! >= 96 - 1e-4;
        if (wasClipped) clipped++;
        else close(back, box, 1e-3);
      }
      assert.ok(flips > 5 && flips < 35, `flip ratio 0.5: ${flips}/40`);
      assert.ok(clipped < 40);
    });

    it('uses the reference ratios and keeps only boxes whose centres are inside the crop', () => {
      const ratios = new Set<number>();
      for (let seed = 0; seed < 200; seed++) {
        const boxes = Float32Array.from([2, 2, 12, 12, 150, 100, 190, 140]);
        const plan = planTrain(new Rng(seed), W, H, boxes, Int32Array.from([0, 1]), { ...REFERENCE_TRAIN, photometric: null }, unit);
        ratios.add(plan.ratio);
        assert.deepEqual(plan.args.canvas, [Math.trunc(511 * plan.ratio), Math.trunc(511 * plan.ratio)]);
        assert.deepEqual(plan.args.size, [511, 511]);
        assert.ok(plan.labels.length >= 1);
        for (let k = 0; k < plan.labels.length; k++) {
          assert.ok(plan.boxes[4 * k + 2]! > plan.boxes[4 * k]! && plan.boxes[4 * k + 3]! > plan.boxes[4 * k + 1]!);
          for (const v of plan.boxes.subarray(4 * k, 4 * k + 4)) assert.ok(v >= 0 && v <= 511);
        }
      }
      assert.deepEqual([...ratios].sort(), [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]);
    });

    it('photometric parameters follow the configured ranges', () => {
      for (let seed = 0; seed < 100; seed++) {
        const p = planTrain(new Rng(seed), W, H, Float32Array.from(box), Int32Array.from([0]), REFERENCE_TRAIN, norm).photometric!;
        assert.ok(Math.abs(p.brightness) <= 32 && p.contrast >= 0.5 && p.contrast <= 1.5 && p.saturation >= 0.5 && p.saturation <= 1.5 && Math.abs(p.hue) <= 18);
      }
    });
  });

  describe('test plan (centre pad, logical_or 127)', () => {
    it('pads 640x480 to 767x511 with the reference border', () => {
      const { args, meta } = planTest(640, 480, false, REFERENCE_TEST, norm);
      assert.deepEqual(meta.padShape, [511, 767]);
      assert.deepEqual(meta.imgShape, [480, 640]);
      assert.deepEqual(meta.border, [15, 495, 63, 703]);
      assert.deepEqual(args.canvas, [511, 767]);
      assert.deepEqual(args.size, [511, 767]);
    });
    it('keeps the reference\'s quirk for sides already 128k-1 (the last column is not pasted)', () => {
      const { args, meta } = planTest(511, 100, false, REFERENCE_TEST, norm);
      assert.equal(args.windowWidth, 510);
      assert.deepEqual(meta.border.slice(2), [0, 510]);
    });
    it('places pixels where the border says, and box coordinates round-trip', () => {
      const img = image(50, 30, (x, y) => x + 100 * y);
      const { args, meta } = planTest(50, 30, false, REFERENCE_TEST, unit);
      const y = imageTransform({ image: img, ...args });
      const [ph, pw] = meta.padShape;
      const [top, , left] = meta.border;
      assert.deepEqual(y.shape, [3, ph, pw]);
      assert.equal(y.data[top * pw + left], 0);
      assert.equal(y.data[(top + 29) * pw + left + 49], 49 + 2900);
      const b: [number, number, number, number] = [3.5, 4, 20, 29.25];
      assert.deepEqual(testBoxToImage(meta, imageBoxToTest(meta, b)), b);
    });
  });
});
