// The random choices and box arithmetic of MMDetection CornerNet's train and
// test pipelines (the pixels are moved by native code: pixel_ops.ts).
//   train: PhotoMetricDistortion -> RandomCenterCropPad(crop 511, ratios
//          0.6..1.3, border 128) -> Resize 511x511 -> RandomFlip 0.5 -> Normalize
//   test:  RandomCenterCropPad(test_mode, logical_or 127) -> [flip] -> Normalize
// Semantics follow mmdet v2 transforms.py (RandomCenterCropPad._get_border,
// _filter_boxes, _crop_image_and_paste, _train_aug, _test_aug), including its
// integer halvings.
import type { TensorData } from '../native';
import type { ChannelOrder, ImageTransformArgs } from './pixel_ops';
import type { Rng } from './rng';

/** The config's img_norm_cfg: ImageNet statistics, RGB order. */
export const IMG_NORM = { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] } as const;

export interface PhotometricConfig {
  brightnessDelta: number;
  contrastRange: [number, number];
  saturationRange: [number, number];
  hueDelta: number;
}

/** As configured in cornernet_hourglass104_mstest_8x6_210e_coco.py. */
export const REFERENCE_PHOTOMETRIC: Readonly<PhotometricConfig> = {
  brightnessDelta: 32,
  contrastRange: [0.5, 1.5],
  saturationRange: [0.5, 1.5],
  hueDelta: 18,
};

export interface TrainTransformConfig {
  /** RandomCenterCropPad crop_size [h, w] (before ratios). */
  cropSize: [number, number];
  ratios: number[];
  border: number;
  /** Resize target [h, w]. */
  outSize: [number, number];
  flipRatio: number;
  /** null: no photometric distortion. */
  photometric: PhotometricConfig | null;
  mean: readonly number[];
  std: readonly number[];
}

export const REFERENCE_TRAIN: Readonly<TrainTransformConfig> = {
  cropSize: [511, 511],
  ratios: [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3],
  border: 128,
  outSize: [511, 511],
  flipRatio: 0.5,
  photometric: REFERENCE_PHOTOMETRIC,
  mean: IMG_NORM.mean,
  std: IMG_NORM.std,
};

/**
 * The reference pipeline at another network input size (e.g. 128 for the
 * synthetic shapes): crop size and resize target become size x size; ratios,
 * border (which RandomCenterCropPad shrinks to the image anyway), photometric
 * distortion, flip and normalisation stay as configured.
 */
export function trainConfigAtSize(size: number, base: TrainTransformConfig = REFERENCE_TRAIN): TrainTransformConfig {
  if (!Number.isInteger(size) || size < 8) throw new RangeError(`trainConfigAtSize: size must be an integer >= 8, got ${size}`);
  return { ...base, cropSize: [size, size], outSize: [size, size] };
}

/** The random choices of the train pipeline a config may change (`data.augment`). */
export interface AugmentConfig {
  /** PhotoMetricDistortion as the reference configures it, or none. */
  photometric: boolean;
  /** RandomCenterCropPad's ratios: the crop is size x ratio source pixels, resized to size. */
  cropRatios: number[];
  /** RandomFlip's probability. */
  flipRatio: number;
}

export const REFERENCE_AUGMENT: Readonly<AugmentConfig> = {
  photometric: true,
  cropRatios: REFERENCE_TRAIN.ratios,
  flipRatio: REFERENCE_TRAIN.flipRatio,
};

/** The reference pipeline at network input `size` with the augmentation `a`. */
export function trainConfigFor(size: number, a: AugmentConfig): TrainTransformConfig {
  return trainConfigAtSize(size, { ...REFERENCE_TRAIN, ratios: [...a.cropRatios], flipRatio: a.flipRatio, photometric: a.photometric ? REFERENCE_PHOTOMETRIC : null });
}

export interface PhotometricParams {
  brightness: number;
  contrast: number;
  contrastFirst: boolean;
  saturation: number;
  hue: number;
  channelOrder: ChannelOrder;
}

/** mmdet's PhotoMetricDistortion: each step with probability 1/2; contrast before or after the HSV step, 50/50. */
export function samplePhotometric(rng: Rng, c: PhotometricConfig): PhotometricParams {
  const brightness = rng.chance() ? rng.uniform(-c.brightnessDelta, c.brightnessDelta) : 0;
  const contrastFirst = rng.chance();
  const contrast = rng.chance() ? rng.uniform(c.contrastRange[0], c.contrastRange[1]) : 1;
  const saturation = rng.chance() ? rng.uniform(c.saturationRange[0], c.saturationRange[1]) : 1;
  const hue = rng.chance() ? rng.uniform(-c.hueDelta, c.hueDelta) : 0;
  const channelOrder = (rng.chance() ? rng.permutation(3) : [0, 1, 2]) as ChannelOrder;
  return { brightness, contrast, contrastFirst, saturation, hue, channelOrder };
}

/** RandomCenterCropPad._get_border: the largest border / 2^m with size > 2 * border. */
export function cropBorder(border: number, size: number): number {
  const k = (2 * border) / size;
  const i = 2 ** (Math.ceil(Math.log2(Math.ceil(k))) + (k === Math.trunc(k) ? 1 : 0));
  return Math.floor(border / i);
}

export interface CropPaste {
  /** Kept source window [x0, y0, x1, y1] (the reference's `patch`). */
  patch: [number, number, number, number];
  /** Where the window lands in the canvas. */
  pasteX: number;
  pasteY: number;
  canvasH: number;
  canvasW: number;
  /** [top, bottom, left, right] of the image area inside the canvas (test-time `border`). */
  border: [number, number, number, number];
}

/** RandomCenterCropPad._crop_image_and_paste, geometry only. */
export function cropAndPaste(imgW: number, imgH: number, cx: number, cy: number, targetH: number, targetW: number): CropPaste {
  const hw = Math.floor(targetW / 2), hh = Math.floor(targetH / 2);
  const x0 = Math.max(0, cx - hw), x1 = Math.min(cx + hw, imgW);
  const y0 = Math.max(0, cy - hh), y1 = Math.min(cy + hh, imgH);
  const left = cx - x0, right = x1 - cx, top = cy - y0, bottom = y1 - cy;
  return {
    patch: [x0, y0, x1, y1],
    pasteX: hw - left,
    pasteY: hh - top,
    canvasH: targetH,
    canvasW: targetW,
    border: [hh - top, hh + bottom, hw - left, hw + right],
  };
}

export interface BoxAffine {
  /** out = (in + shift) * scale, then x -> width - x when flipped (per box: x1' = W - x2). */
  shiftX: number;
  shiftY: number;
  scaleX: number;
  scaleY: number;
  flip: boolean;
  outW: number;
  outH: number;
}

export interface TrainPlan {
  /** Arguments of imageTransform except `image`. */
  args: Omit<ImageTransformArgs, 'image'>;
  boxes: Float32Array;
  labels: Int32Array;
  affine: BoxAffine;
  ratio: number;
  photometric: PhotometricParams | null;
}

const MAX_CROP_ROUNDS = 200;

/** The native transform's arguments for a window pasted into a canvas, resized to `size`, optionally flipped. */
function pasteArgs(cp: CropPaste, canvas: [number, number], size: [number, number], flip: boolean, norm: { mean: TensorData; std: TensorData }): Omit<ImageTransformArgs, 'image'> {
  const [x0, y0, x1, y1] = cp.patch;
  return {
    windowX: x0, windowY: y0, windowWidth: x1 - x0, windowHeight: y1 - y0, pasteX: cp.pasteX, pasteY: cp.pasteY,
    canvas, size, flip, mean: norm.mean, std: norm.std, photometric: false,
  };
}

/**
 * The reference's train-time crop: pick a ratio, then up to 50 centres until one
 * keeps at least one box centre strictly inside the window (any centre when there
 * are no boxes); boxes whose centres fall outside are dropped, the rest shifted,
 * clipped and kept if not empty. Then resize and flip move the boxes.
 */
export function planTrain(rng: Rng, imgW: number, imgH: number, boxes: Float32Array, labels: Int32Array, cfg: TrainTransformConfig, tensorArgs: { mean: TensorData; std: TensorData }): TrainPlan {
  const photometric = cfg.photometric ? samplePhotometric(rng, cfg.photometric) : null;
  const n = labels.length;
  const hBorder = cropBorder(cfg.border, imgH), wBorder = cropBorder(cfg.border, imgW);
  const centreInside = (i: number, p: [number, number, number, number]) => {
    const cx = (boxes[4 * i]! + boxes[4 * i + 2]!) / 2, cy = (boxes[4 * i + 1]! + boxes[4 * i + 3]!) / 2;
    return cx > p[0] && cy > p[1] && cx < p[2] && cy < p[3];
  };
  let chosen: { cp: CropPaste; cx: number; cy: number; newW: number; newH: number; ratio: number } | null = null;
  for (let round = 0; round < MAX_CROP_ROUNDS && !chosen; round++) {
    const ratio = rng.pick(cfg.ratios);
    const newH = Math.trunc(cfg.cropSize[0] * ratio), newW = Math.trunc(cfg.cropSize[1] * ratio);
    for (let t = 0; t < 50; t++) {
      const cx = rng.int(wBorder, imgW - wBorder), cy = rng.int(hBorder, imgH - hBorder);
      const cp = cropAndPaste(imgW, imgH, cx, cy, newH, newW);
      let any = n === 0;
      for (let i = 0; i < n && !any; i++) any = centreInside(i, cp.patch);
      // The reference loops for ever; after MAX_CROP_ROUNDS rounds the last window is taken even without boxes.
      if (any || round === MAX_CROP_ROUNDS - 1) {
        chosen = { cp, cx, cy, newW, newH, ratio };
        break;
      }
    }
  }
  const { cp, cx, cy, newW, newH, ratio } = chosen!;
  const [outH, outW] = cfg.outSize;
  const flip = rng.chance(cfg.flipRatio);
  const affine: BoxAffine = {
    shiftX: Math.floor(newW / 2) - cx,
    shiftY: Math.floor(newH / 2) - cy,
    scaleX: outW / newW,
    scaleY: outH / newH,
    flip,
    outW,
    outH,
  };
  const kept: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!centreInside(i, cp.patch)) continue;
    let x1 = Math.min(Math.max(boxes[4 * i]! + affine.shiftX, 0), newW);
    let y1 = Math.min(Math.max(boxes[4 * i + 1]! + affine.shiftY, 0), newH);
    let x2 = Math.min(Math.max(boxes[4 * i + 2]! + affine.shiftX, 0), newW);
    let y2 = Math.min(Math.max(boxes[4 * i + 3]! + affine.shiftY, 0), newH);
    if (!(x2 > x1 && y2 > y1)) continue;
    // Resize (mmdet clips to the resized image, a no-op here), then flip.
    x1 *= affine.scaleX;
    x2 *= affine.scaleX;
    y1 *= affine.scaleY;
    y2 *= affine.scaleY;
    if (flip) [x1, x2] = [outW - x2, outW - x1];
    out.push(x1, y1, x2, y2);
    kept.push(labels[i]!);
  }
  const args = pasteArgs(cp, [newH, newW], [outH, outW], flip, tensorArgs);
  args.photometric = photometric !== null;
  if (photometric) Object.assign(args, photometric);
  return { args, boxes: Float32Array.from(out), labels: Int32Array.from(kept), affine, ratio, photometric };
}

/** Maps a box in the network input back to the source image (inverse of TrainPlan.affine; clipped boxes stay clipped). */
export function trainBoxToImage(a: BoxAffine, b: [number, number, number, number]): [number, number, number, number] {
  let [x1, y1, x2, y2] = b;
  if (a.flip) [x1, x2] = [a.outW - x2, a.outW - x1];
  return [x1 / a.scaleX - a.shiftX, y1 / a.scaleY - a.shiftY, x2 / a.scaleX - a.shiftX, y2 / a.scaleY - a.shiftY];
}

export interface TestMeta {
  /** Unpadded image [h, w] (the reference's img_shape). */
  imgShape: [number, number];
  /** Padded [h, w]: (h | 127, w | 127). */
  padShape: [number, number];
  /** [top, bottom, left, right] of the image inside the padded input. */
  border: [number, number, number, number];
  flip: boolean;
}

export interface TestTransformConfig {
  /** logical_or value: padded size = size | padOr (127 gives 128k - 1). */
  padOr: number;
  mean: readonly number[];
  std: readonly number[];
}

export const REFERENCE_TEST: Readonly<TestTransformConfig> = { padOr: 127, mean: IMG_NORM.mean, std: IMG_NORM.std };

/** The test-time centre pad: the image centred (h // 2, w // 2) in an (h | 127) x (w | 127) canvas of the mean pixel. */
export function planTest(imgW: number, imgH: number, flip: boolean, cfg: TestTransformConfig, tensorArgs: { mean: TensorData; std: TensorData }): { args: Omit<ImageTransformArgs, 'image'>; meta: TestMeta } {
  const th = imgH | cfg.padOr, tw = imgW | cfg.padOr;
  const cp = cropAndPaste(imgW, imgH, Math.floor(imgW / 2), Math.floor(imgH / 2), th, tw);
  return {
    args: pasteArgs(cp, [th, tw], [th, tw], flip, tensorArgs),
    meta: { imgShape: [imgH, imgW], padShape: [th, tw], border: cp.border, flip },
  };
}

/**
 * A box in the padded test input (unflipped view) back to image coordinates:
 * subtract the border's left/top and clamp negatives to 0, as mmdet's decode does.
 */
export function testBoxToImage(m: TestMeta, b: [number, number, number, number]): [number, number, number, number] {
  const [top, , left] = m.border;
  return [Math.max(0, b[0] - left), Math.max(0, b[1] - top), Math.max(0, b[2] - left), Math.max(0, b[3] - top)];
}

/** An image box to the padded test input (the forward direction of testBoxToImage). */
export function imageBoxToTest(m: TestMeta, b: [number, number, number, number]): [number, number, number, number] {
  const [top, , left] = m.border;
  return [b[0] + left, b[1] + top, b[2] + left, b[3] + top];
}
