// CornerNet decoding: the last stack's head outputs to scored, labelled boxes in
// original-image pixels, as MMDetection v2's CornerHead tests (sigmoid, 3x3
// local maxima, top-k corners, pairing, class-aware Gaussian soft-NMS, best 100),
// optionally with the flip test of CornerNet.aug_test. Runs in the native engine:
// on the CPU by default, or on a device backend (decode(args, 'cuda:0')), which
// gives the same detections. Model.detect decodes where the model ran.
import type { HeadOutputs } from './model';
import { native, type TensorData } from './native';

/** The six outputs of CornerHead for one level (lib/model.ts HeadOutputs): heat maps are logits [N,C,H,W]; embeddings [N,1,H,W]; offsets [N,2,H,W] (x, y). */
export type CornerHeadOutputs = HeadOutputs;

/** The same outputs for the horizontally mirrored input, under the names decode() reads for the flip test. */
export interface FlippedHeadOutputs {
  flipTlHeat: TensorData;
  flipBrHeat: TensorData;
  flipTlEmb: TensorData;
  flipBrEmb: TensorData;
  flipTlOff: TensorData;
  flipBrOff: TensorData;
}

/**
 * Test-time meta of one image (MMDetection's img_meta): the network input was the
 * image (imgShape, after any resize) centred in a padded canvas (padShape);
 * border = [top, bottom, left, right] of the image inside the canvas.
 */
export interface ImageMeta {
  /** [h, w] (a trailing channel count is accepted and ignored). */
  padShape: number[];
  /** [h, w] before padding; the flip test mirrors boxes with this width. */
  imgShape: number[];
  border: [number, number, number, number];
  /** Boxes are divided by it (1 in CornerNet's test config). */
  scaleFactor?: number;
}

export interface DecodeOptions {
  /** Corners kept per type (corner_topk). Default 100. */
  k?: number;
  /** Local-maximum window, odd. Default 3. */
  kernel?: number;
  /** Pairs whose embeddings differ by more are rejected. Default 0.5. */
  distanceThreshold?: number;
  /** Pairs kept per view before NMS. Default 1000 (capped at k*k). */
  numDets?: number;
  /** Detections kept per image after soft-NMS; 0 keeps all. Default 100. */
  maxPerImg?: number;
  /** false returns the pre-NMS list as the detections. Default true. */
  nms?: boolean;
  /** mmcv soft-NMS method. Default 'gaussian'. */
  softNmsMethod?: 'gaussian' | 'linear' | 'naive';
  /** Gaussian: weight = exp(-iou^2 / sigma). Default 0.5. */
  sigma?: number;
  /** Boxes rescored below it are dropped. Default 1e-3. */
  minScore?: number;
  /** For 'linear' and 'naive' only. Default 0.5. */
  iouThreshold?: number;
  /** Box width x2 - x1 + iouOffset in the IoU (mmdet: 0). */
  iouOffset?: 0 | 1;
  /** Clip the final boxes to the image (MMDetection does not). Default false. */
  clip?: boolean;
  /** Also return the list soft-NMS ran on. Default false. */
  returnPreNms?: boolean;
}

export interface DecodeArgs extends CornerHeadOutputs, Partial<FlippedHeadOutputs>, DecodeOptions {
  /** One meta for every image of the batch, or one per image. */
  meta: ImageMeta | ImageMeta[];
}

/** Detections of one image, best first: boxes (x1, y1, x2, y2) as n*4 floats. */
export interface Detections {
  boxes: Float32Array;
  scores: Float32Array;
  labels: Int32Array;
  /** The top-left and bottom-right corner scores each box was paired from (n*2). */
  cornerScores: Float32Array;
}

export interface DecodedImage extends Detections {
  /** With returnPreNms: the candidates soft-NMS ran on (both views with the flip test). */
  preNms?: Detections;
}

type NativeDecode = (args: DecodeArgs, backend?: string) => DecodedImage[];
type NativeDecodeAsync = (args: DecodeArgs, backend?: string) => Promise<DecodedImage[]>;

/**
 * Decodes every image of the batch; one result per image. `backend` (default
 * 'cpu'): a device backend such as 'cuda:0' uploads the maps and decodes there,
 * with the same results as the CPU (native/cuda/decode.cu).
 */
export function decode(args: DecodeArgs, backend?: string): DecodedImage[] {
  return (native().decode as NativeDecode)(args, backend);
}

/** decode() on a worker thread. */
export function decodeAsync(args: DecodeArgs, backend?: string): Promise<DecodedImage[]> {
  return (native().decodeAsync as NativeDecodeAsync)(args, backend);
}

export interface SoftNmsArgs {
  /** [n, 4] boxes (x1, y1, x2, y2). */
  boxes: TensorData;
  /** [n] scores. */
  scores: TensorData;
  /** Class per box: boxes of different classes never suppress each other (mmcv batched_nms). */
  labels?: Int32Array;
  softNmsMethod?: 'gaussian' | 'linear' | 'naive';
  sigma?: number;
  minScore?: number;
  iouThreshold?: number;
  iouOffset?: 0 | 1;
}

export interface SoftNmsResult {
  /** Indices of the surviving boxes, in the order soft-NMS selected them. */
  keep: Int32Array;
  /** Their rescored scores. */
  scores: Float32Array;
}

/** mmcv's CPU soft-NMS (the kernel decode() ends with), on its own. */
export function softNms(args: SoftNmsArgs): SoftNmsResult {
  return native().softNms(args) as SoftNmsResult;
}

export interface SoftNmsMergeArgs extends Omit<SoftNmsArgs, 'iouOffset'> {
  /** [n, 2] top-left and bottom-right corner scores: the weights of the coordinate merge. */
  cornerScores: TensorData;
  /** Merge weight of a suppressed box: (1 - soft-NMS weight)^weightExp. Default 10. */
  weightExp?: number;
  /** Default 1 (the original's IoU counts pixels). */
  iouOffset?: 0 | 1;
}

export interface SoftNmsMergeResult {
  keep: Int32Array;
  /** Merged boxes of the kept detections (n*4), best first. */
  boxes: Float32Array;
  scores: Float32Array;
  labels: Int32Array;
}

/**
 * The original CornerNet's per-class soft-NMS with box merging (its multi-scale
 * test; see native/decode/soft_nms_merge.h for how it differs from mmcv's).
 * Defaults: gaussian, sigma 0.5, iouThreshold 0.5, minScore 1e-3, weightExp 10.
 */
export function softNmsMerge(args: SoftNmsMergeArgs): SoftNmsMergeResult {
  return native().softNmsMerge(args) as SoftNmsMergeResult;
}

/** One test scale of one image (batch of 1): its head outputs, optionally its mirror's, and its meta (scaleFactor = the scale). */
export interface ScaleView {
  heads: CornerHeadOutputs;
  flipped?: CornerHeadOutputs;
  meta: ImageMeta;
}

export interface MultiScaleOptions
  extends Pick<DecodeOptions, 'k' | 'kernel' | 'distanceThreshold' | 'numDets' | 'maxPerImg' | 'clip' | 'returnPreNms'>,
    Omit<SoftNmsMergeArgs, 'boxes' | 'scores' | 'labels' | 'cornerScores'> {}

function concat<T extends Float32Array | Int32Array>(parts: T[], make: (n: number) => T): T {
  const out = make(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The multi-scale test of the original CornerNet paper (e.g. scales 0.5, 0.75, 1,
 * 1.25, 1.5, each with its mirror): every view decoded as decode() does without
 * NMS, boxes mapped back through each view's meta, all candidates merged by
 * softNmsMerge, then the best maxPerImg (default 100). Off the default path:
 * MMDetection's CornerNet has no multi-scale test.
 */
export function decodeMultiScale(views: ScaleView[], opts: MultiScaleOptions = {}): DecodedImage {
  if (views.length === 0) throw new RangeError('decodeMultiScale: views must hold at least one view');
  const lists = views.map((v, i) => {
    if (v.heads.tlHeat.shape[0] !== 1)
      throw new RangeError(`decodeMultiScale: views[${i}].heads.tlHeat must hold one image (batch 1), got shape [${v.heads.tlHeat.shape.join(',')}]`);
    const [r] = decode({
      ...v.heads,
      ...(v.flipped ? flipped(v.flipped) : {}),
      meta: v.meta,
      k: opts.k,
      kernel: opts.kernel,
      distanceThreshold: opts.distanceThreshold,
      numDets: opts.numDets,
      nms: false,
    });
    return r;
  });
  const pre: Detections = {
    boxes: concat(lists.map((l) => l.boxes), (n) => new Float32Array(n)),
    scores: concat(lists.map((l) => l.scores), (n) => new Float32Array(n)),
    labels: concat(lists.map((l) => l.labels), (n) => new Int32Array(n)),
    cornerScores: concat(lists.map((l) => l.cornerScores), (n) => new Float32Array(n)),
  };
  const n = pre.scores.length;
  const merged = softNmsMerge({
    boxes: { data: pre.boxes, shape: [n, 4] },
    scores: { data: pre.scores, shape: [n] },
    cornerScores: { data: pre.cornerScores, shape: [n, 2] },
    labels: pre.labels,
    softNmsMethod: opts.softNmsMethod,
    sigma: opts.sigma,
    iouThreshold: opts.iouThreshold,
    minScore: opts.minScore,
    weightExp: opts.weightExp,
    iouOffset: opts.iouOffset,
  });
  const limit = (opts.maxPerImg ?? 100) > 0 ? Math.min(opts.maxPerImg ?? 100, merged.scores.length) : merged.scores.length;
  const boxes = merged.boxes.slice(0, 4 * limit);
  if (opts.clip) {
    const m = views[0].meta;
    const w = m.imgShape[1] / (m.scaleFactor ?? 1);
    const h = m.imgShape[0] / (m.scaleFactor ?? 1);
    for (let i = 0; i < boxes.length; ++i) boxes[i] = Math.min(Math.max(boxes[i], 0), i % 2 === 0 ? w : h);
  }
  const cornerScores = new Float32Array(2 * limit);
  for (let i = 0; i < limit; ++i) cornerScores.set(pre.cornerScores.subarray(2 * merged.keep[i], 2 * merged.keep[i] + 2), 2 * i);
  const out: DecodedImage = { boxes, scores: merged.scores.slice(0, limit), labels: merged.labels.slice(0, limit), cornerScores };
  if (opts.returnPreNms) out.preNms = pre;
  return out;
}

/** Renames the head outputs of the mirrored input for the flip test: decode({...heads, ...flipped(mirrorHeads), meta}). */
export function flipped(h: CornerHeadOutputs): FlippedHeadOutputs {
  return {
    flipTlHeat: h.tlHeat,
    flipBrHeat: h.brHeat,
    flipTlEmb: h.tlEmb,
    flipBrEmb: h.brEmb,
    flipTlOff: h.tlOff,
    flipBrOff: h.brOff,
  };
}

/**
 * The meta MMDetection's test-time RandomCenterCropPad (test_pad_mode
 * ['logical_or', padOr]) produces for an image of h x w: canvas (h | padOr) x
 * (w | padOr), image centre on canvas centre. As in the reference, an image whose
 * side already equals the canvas side loses its last row/column.
 */
export function centerPadMeta(h: number, w: number, padOr = 127): ImageMeta {
  for (const [name, v] of [['h', h], ['w', w], ['padOr', padOr]] as const)
    if (!Number.isInteger(v) || v < (name === 'padOr' ? 0 : 1))
      throw new RangeError(`centerPadMeta: ${name} must be a ${name === 'padOr' ? 'non-negative' : 'positive'} integer, got ${v}`);
  const side = (size: number): [number, number, number] => {
    const target = size | padOr;
    const centre = Math.floor(size / 2);
    const half = Math.floor(target / 2);
    const start = Math.max(0, centre - half);
    const end = Math.min(centre + half, size);
    return [target, half - (centre - start), half + (end - centre)];
  };
  const [ph, top, bottom] = side(h);
  const [pw, left, right] = side(w);
  return { padShape: [ph, pw], imgShape: [h, w], border: [top, bottom, left, right] };
}
