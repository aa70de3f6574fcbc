// Every engine op, forward and backward, on plain Float32Arrays: for tests,
// benchmarks and users who want the kernels without the model. Each op has a
// synchronous form and an `...Async` form that runs off the event loop.
// `backend` is 'cpu' (default), 'cpu:portable' | 'cpu:avx2' | 'cpu:avx512'
// (force a SIMD path), 'cuda', 'cuda:N', or 'cuda-emu' (CUDA kernels on the host).
import type { HeadOutputs } from './model';
import { native, type NativeOpAsyncFn, type NativeOpFn, type TensorData } from './native';

export type { TensorData };
export type CornerPoolMode = 'top' | 'bottom' | 'left' | 'right';
export type Pair = number | [number, number];

export interface OpOptions {
  backend?: string;
}

function fn(name: string): NativeOpFn {
  const f = native().ops[name];
  if (typeof f !== 'function') throw new Error(`cornernet-native: the addon has no op '${name}'; rebuild it (npm run build:native)`);
  return f as NativeOpFn;
}

function call<T>(name: string, args: object, opts?: OpOptions): T {
  return fn(name)(args as Record<string, unknown>, opts?.backend) as unknown as T;
}

function callAsync<T>(name: string, args: object, opts?: OpOptions): Promise<T> {
  return (fn(`${name}Async`) as unknown as NativeOpAsyncFn)(args as Record<string, unknown>, opts?.backend) as unknown as Promise<T>;
}

/** A tensor from data and shape, checking that they agree. */
export function tensor(data: Float32Array | number[], shape: number[]): TensorData {
  const d = data instanceof Float32Array ? data : Float32Array.from(data);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== d.length) throw new RangeError(`tensor: shape [${shape.join(',')}] needs ${n} elements, data has ${d.length}`);
  return { data: d, shape: [...shape] };
}

export interface Conv2dArgs {
  x: TensorData;
  weight: TensorData;
  bias?: TensorData | null;
  stride?: Pair;
  padding?: Pair;
}
export interface Conv2dBackwardArgs extends Conv2dArgs {
  gradY: TensorData;
}
export interface Conv2dGrads {
  gradX: TensorData;
  gradWeight: TensorData;
  gradBias: TensorData;
}

export const conv2dForward = (a: Conv2dArgs, o?: OpOptions) => call<{ y: TensorData }>('conv2dForward', a, o);
export const conv2dForwardAsync = (a: Conv2dArgs, o?: OpOptions) => callAsync<{ y: TensorData }>('conv2dForward', a, o);
export const conv2dBackward = (a: Conv2dBackwardArgs, o?: OpOptions) => call<Conv2dGrads>('conv2dBackward', a, o);
export const conv2dBackwardAsync = (a: Conv2dBackwardArgs, o?: OpOptions) => callAsync<Conv2dGrads>('conv2dBackward', a, o);

export interface GemmArgs {
  /** [M, K], or [K, M] with transA. */
  a: TensorData;
  /** [K, N], or [N, K] with transB. */
  b: TensorData;
  transA?: boolean;
  transB?: boolean;
}
/** c[M, N] = op(a) * op(b) with the CPU backend's own SGEMM (for tests and benchmarks; CPU backends only). */
export const gemm = (a: GemmArgs, o?: OpOptions) => call<{ c: TensorData }>('gemm', a, o);
export const gemmAsync = (a: GemmArgs, o?: OpOptions) => callAsync<{ c: TensorData }>('gemm', a, o);

export interface BatchNormArgs {
  x: TensorData;
  weight: TensorData;
  bias: TensorData;
  runningMean: TensorData;
  runningVar: TensorData;
  eps?: number;
  momentum?: number;
  /** Output max(0, y) in the same pass (conv-BN-ReLU); NaN passes through. */
  relu?: boolean;
}
export interface BatchNormTrainResult {
  y: TensorData;
  /** Per-channel batch mean and 1/sqrt(biased var + eps), for the backward pass. */
  saveMean: TensorData;
  saveInvstd: TensorData;
  /** Updated running statistics (the inputs are not modified). */
  runningMean: TensorData;
  runningVar: TensorData;
}
export interface BatchNormBackwardArgs {
  x: TensorData;
  weight: TensorData;
  saveMean: TensorData;
  saveInvstd: TensorData;
  gradY: TensorData;
  /** true: statistics were the batch's (gradient flows through them); false: running statistics. */
  training?: boolean;
  /**
   * The forward had `relu`: gradY is the gradient at the ReLU's output, whose mask is recomputed
   * from x, the statistics, weight and `bias` (then required) as the forward computed it.
   */
  relu?: boolean;
  bias?: TensorData;
}
export interface BatchNormGrads {
  gradX: TensorData;
  gradWeight: TensorData;
  gradBias: TensorData;
}
export const batchNormForwardTrain = (a: BatchNormArgs, o?: OpOptions) => call<BatchNormTrainResult>('batchNormForwardTrain', a, o);
export const batchNormForwardEval = (a: BatchNormArgs, o?: OpOptions) => call<{ y: TensorData }>('batchNormForwardEval', a, o);
export const batchNormBackward = (a: BatchNormBackwardArgs, o?: OpOptions) => call<BatchNormGrads>('batchNormBackward', a, o);

export const reluForward = (a: { x: TensorData }, o?: OpOptions) => call<{ y: TensorData }>('reluForward', a, o);
export const reluBackward = (a: { y: TensorData; gradY: TensorData }, o?: OpOptions) => call<{ gradX: TensorData }>('reluBackward', a, o);
export const addForward = (a: { a: TensorData; b: TensorData }, o?: OpOptions) => call<{ y: TensorData }>('addForward', a, o);
export const sigmoidForward = (a: { x: TensorData }, o?: OpOptions) => call<{ y: TensorData }>('sigmoidForward', a, o);
export const sigmoidBackward = (a: { y: TensorData; gradY: TensorData }, o?: OpOptions) => call<{ gradX: TensorData }>('sigmoidBackward', a, o);
export const upsample2xForward = (a: { x: TensorData }, o?: OpOptions) => call<{ y: TensorData }>('upsample2xForward', a, o);
export const upsample2xBackward = (a: { gradY: TensorData }, o?: OpOptions) => call<{ gradX: TensorData }>('upsample2xBackward', a, o);
export const maxPool3x3Forward = (a: { x: TensorData }, o?: OpOptions) => call<{ y: TensorData }>('maxPool3x3Forward', a, o);
export const maxPool3x3Backward = (a: { x: TensorData; gradY: TensorData }, o?: OpOptions) => call<{ gradX: TensorData }>('maxPool3x3Backward', a, o);

export interface CornerPoolArgs {
  x: TensorData;
  mode: CornerPoolMode;
}
export const cornerPoolForward = (a: CornerPoolArgs, o?: OpOptions) => call<{ y: TensorData }>('cornerPoolForward', a, o);
export const cornerPoolForwardAsync = (a: CornerPoolArgs, o?: OpOptions) => callAsync<{ y: TensorData }>('cornerPoolForward', a, o);
export const cornerPoolBackward = (a: CornerPoolArgs & { gradY: TensorData }, o?: OpOptions) =>
  call<{ gradX: TensorData }>('cornerPoolBackward', a, o);
export const cornerPoolBackwardAsync = (a: CornerPoolArgs & { gradY: TensorData }, o?: OpOptions) =>
  callAsync<{ gradX: TensorData }>('cornerPoolBackward', a, o);

/** y = x through the backend's copy (a multithreaded memcpy on the CPU): the engine's copy op, and the baseline memory-bound kernels are timed against. */
export const copy = (a: { x: TensorData }, o?: OpOptions) => call<{ y: TensorData }>('copy', a, o);
export const copyAsync = (a: { x: TensorData }, o?: OpOptions) => callAsync<{ y: TensorData }>('copy', a, o);

export interface TimeKernelOptions extends OpOptions {
  /** Timed repetitions (default 10) after `warmup` untimed ones (default 1, at least 1). */
  reps?: number;
  warmup?: number;
}
/**
 * Milliseconds per run of op `op`'s kernel alone: arguments are checked as the
 * op checks them, inputs uploaded and outputs allocated once, then the kernel
 * runs `warmup` + `reps` times on the same buffers. For benchmarks: it leaves
 * out what every call pays (allocating and paging in outputs, crossing to JS).
 */
export function timeKernel(op: string, args: object, o?: TimeKernelOptions): Float64Array {
  const f = native().ops.timeKernel as unknown as
    | ((a: object, backend: string | undefined, op: string, reps?: number, warmup?: number) => Float64Array)
    | undefined;
  if (typeof f !== 'function') throw new Error('cornernet-native: the addon has no timeKernel; rebuild it (npm run build:native)');
  return f(args, o?.backend, op, o?.reps, o?.warmup);
}

/** Backends usable here, for tests that run every op on each: 'cpu' first. */
export function availableBackends(): string[] {
  const i = native().info();
  const out = ['cpu'];
  if (i.cudaEmu.loaded && i.cudaEmu.status === 'ok') out.push('cuda-emu');
  if (i.cuda.loaded && i.cuda.status === 'ok') i.cuda.devices.forEach((d) => out.push(`cuda:${d.index}`));
  return out;
}

// ---- CornerNet targets and losses (cornerTargets, cornerHeadLosses: any backend; the single losses: CPU only) ----

/** One object's corner cells, as the reference lists them: [[tl_y, tl_x], [br_y, br_x]]. */
export type CornerMatch = [[number, number], [number, number]];

export interface ImageBoxes {
  /** [x1, y1, x2, y2] per box, in padded-input pixels (rounded to float32 as the reference's tensors are). */
  boxes: ArrayLike<number>[];
  /** Class index per box, in [0, numClasses). */
  labels: number[];
  /** Crowd flags: crowd boxes are left out of every target, as the reference does. */
  crowd?: boolean[];
}

export interface CornerTargetsArgs {
  images: ImageBoxes[];
  numClasses: number;
  /** [h, w] of the head output. */
  featureSize: Pair;
  /** [h, w] of the padded network input the boxes refer to. */
  padSize: Pair;
}

export interface CornerTargets {
  tlHeatmap: TensorData;
  brHeatmap: TensorData;
  /** [N, 2, H, W]: channel 0 = x, 1 = y. */
  tlOffset: TensorData;
  brOffset: TensorData;
  /** [N, 1, H, W]: 1 where any class heatmap is exactly 1 (the offset loss's mask). */
  tlMask: TensorData;
  brMask: TensorData;
  /** Per image, one pair per non-crowd box in box order. */
  match: CornerMatch[][];
}

interface NativeTargets extends Omit<CornerTargets, 'match'> {
  match: TensorData;
}

function flattenBoxes(a: CornerTargetsArgs): Record<string, unknown> {
  const n = a.images.reduce((s, im) => s + im.boxes.length, 0);
  const boxes = new Float32Array(4 * n);
  const labels = new Float32Array(n);
  const imageIndex = new Float32Array(n);
  const crowd = new Float32Array(n);
  let k = 0;
  a.images.forEach((im, i) => {
    if (im.labels.length !== im.boxes.length)
      throw new RangeError(`cornerTargets: image ${i} has ${im.boxes.length} boxes but ${im.labels.length} labels`);
    if (im.crowd && im.crowd.length !== im.boxes.length)
      throw new RangeError(`cornerTargets: image ${i} has ${im.boxes.length} boxes but ${im.crowd.length} crowd flags`);
    im.boxes.forEach((b, j) => {
      if (b.length !== 4) throw new RangeError(`cornerTargets: box ${j} of image ${i} must be [x1, y1, x2, y2]`);
      for (let c = 0; c < 4; c++) boxes[4 * k + c] = b[c] as number;
      labels[k] = im.labels[j] as number;
      imageIndex[k] = i;
      crowd[k] = im.crowd?.[j] ? 1 : 0;
      k++;
    });
  });
  return {
    boxes: { data: boxes, shape: [n, 4] },
    labels: { data: labels, shape: [n] },
    imageIndex: { data: imageIndex, shape: [n] },
    crowd: { data: crowd, shape: [n] },
    batchSize: a.images.length,
    numClasses: a.numClasses,
    featureSize: a.featureSize,
    padSize: a.padSize,
  };
}

/** The engine's [K, 5] (image, tl_y, tl_x, br_y, br_x) rows from per-image lists. */
export function matchToTensor(match: CornerMatch[][]): TensorData {
  const rows = match.reduce((s, m) => s + m.length, 0);
  const data = new Float32Array(rows * 5);
  let r = 0;
  match.forEach((objs, i) =>
    objs.forEach(([[ty, tx], [by, bx]]) => {
      data.set([i, ty, tx, by, bx], 5 * r++);
    })
  );
  return { data, shape: [rows, 5] };
}

export function matchFromTensor(t: TensorData, batchSize: number): CornerMatch[][] {
  const out: CornerMatch[][] = Array.from({ length: batchSize }, () => []);
  const d = t.data;
  for (let r = 0; r < (t.shape[0] ?? 0); r++) {
    const o = 5 * r;
    (out[d[o] as number] as CornerMatch[]).push([
      [d[o + 1] as number, d[o + 2] as number],
      [d[o + 3] as number, d[o + 4] as number],
    ]);
  }
  return out;
}

function withMatch(t: NativeTargets, batch: number): CornerTargets {
  return { ...t, match: matchFromTensor(t.match, batch) };
}

export const cornerTargets = (a: CornerTargetsArgs, o?: OpOptions): CornerTargets =>
  withMatch(call<NativeTargets>('cornerTargets', flattenBoxes(a), o), a.images.length);
export const cornerTargetsAsync = async (a: CornerTargetsArgs, o?: OpOptions): Promise<CornerTargets> =>
  withMatch(await callAsync<NativeTargets>('cornerTargets', flattenBoxes(a), o), a.images.length);

const scalar = (t: TensorData): number => t.data[0] as number;

export interface GaussianFocalLossResult {
  loss: number;
  gradLogits: TensorData;
}
/** mmdet's Gaussian focal loss of one heatmap (alpha 2, gamma 4, sigmoid inside, no clamp) and d loss / d logits. */
export const gaussianFocalLoss = (a: { logits: TensorData; gt: TensorData }, o?: OpOptions): GaussianFocalLossResult => {
  const r = call<{ loss: TensorData; gradLogits: TensorData }>('gaussianFocalLoss', a, o);
  return { loss: scalar(r.loss), gradLogits: r.gradLogits };
};

export interface EmbeddingLossArgs {
  tlEmb: TensorData;
  brEmb: TensorData;
  match: CornerMatch[][];
  /** Defaults 0.1 / 0.1 (the reference config; the loss class default is 0.25). */
  pullWeight?: number;
  pushWeight?: number;
}
export interface EmbeddingLossResult {
  pull: number;
  push: number;
  /** Gradients of pull + push. */
  gradTlEmb: TensorData;
  gradBrEmb: TensorData;
}
export const associativeEmbeddingLoss = (a: EmbeddingLossArgs, o?: OpOptions): EmbeddingLossResult => {
  const r = call<{ pull: TensorData; push: TensorData; gradTlEmb: TensorData; gradBrEmb: TensorData }>(
    'associativeEmbeddingLoss',
    { ...a, match: matchToTensor(a.match) },
    o
  );
  return { pull: scalar(r.pull), push: scalar(r.push), gradTlEmb: r.gradTlEmb, gradBrEmb: r.gradBrEmb };
};

export interface MaskedSmoothL1Args {
  pred: TensorData;
  target: TensorData;
  /** [N, 1, H, W] weights broadcast over the channels. */
  mask: TensorData;
  beta?: number;
}
/** sum(mask * smoothL1(pred - target)) / (max(1, sum(mask)) + eps) and its gradient. */
export const maskedSmoothL1Loss = (a: MaskedSmoothL1Args, o?: OpOptions): { loss: number; gradPred: TensorData } => {
  const r = call<{ loss: TensorData; gradPred: TensorData }>('maskedSmoothL1Loss', a, o);
  return { loss: scalar(r.loss), gradPred: r.gradPred };
};

/** One head level's raw outputs (heatmap logits before the sigmoid) and its targets. */
export interface CornerHeadLossArgs extends HeadOutputs {
  /** Targets (cornerTargets). */
  tlHeatmap: TensorData;
  brHeatmap: TensorData;
  tlOffset: TensorData;
  brOffset: TensorData;
  match: CornerMatch[][];
  pullWeight?: number;
  pushWeight?: number;
  offsetBeta?: number;
}
export interface CornerHeadLossResult {
  /** (focal(tl) + focal(br)) / 2 */
  det: number;
  /** (smoothL1(tl) + smoothL1(br)) / 2 on the class-agnostic masks */
  off: number;
  pull: number;
  push: number;
  /**
   * false when no image of the batch has an object: the reference's br_emb branch then gets
   * no gradient at all (not zeros), so its optimizer skips those parameters for the step.
   */
  brEmbHasGrad: boolean;
  /** Gradients of det + off + pull + push. */
  gradTlHeat: TensorData;
  gradBrHeat: TensorData;
  gradTlEmb: TensorData;
  gradBrEmb: TensorData;
  gradTlOff: TensorData;
  gradBrOff: TensorData;
}
type NativeHeadLoss = Omit<CornerHeadLossResult, 'det' | 'off' | 'pull' | 'push' | 'brEmbHasGrad'> &
  Record<'det' | 'off' | 'pull' | 'push' | 'brEmbHasGrad', TensorData>;
function headLossResult(r: NativeHeadLoss): CornerHeadLossResult {
  return {
    ...r,
    det: scalar(r.det),
    off: scalar(r.off),
    pull: scalar(r.pull),
    push: scalar(r.push),
    brEmbHasGrad: scalar(r.brEmbHasGrad) !== 0,
  };
}
/** The four loss terms one head level contributes (the reference sums them over levels). */
export const cornerHeadLosses = (a: CornerHeadLossArgs, o?: OpOptions): CornerHeadLossResult =>
  headLossResult(call<NativeHeadLoss>('cornerHeadLosses', { ...a, match: matchToTensor(a.match) }, o));
export const cornerHeadLossesAsync = async (a: CornerHeadLossArgs, o?: OpOptions): Promise<CornerHeadLossResult> =>
  headLossResult(await callAsync<NativeHeadLoss>('cornerHeadLosses', { ...a, match: matchToTensor(a.match) }, o));

// ---- optimizer arithmetic -------------------------------------------------------
export interface AdamArgs {
  param: TensorData;
  grad: TensorData;
  expAvg: TensorData;
  expAvgSq: TensorData;
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** 1-based count of this update (bias correction). */
  step: number;
  /** Multiplies the gradient first (gradient clipping, replica averaging). */
  gradScale?: number;
}
export const sumSquares = (a: { x: TensorData }, o?: OpOptions) => call<{ y: TensorData }>('sumSquares', a, o);
export const axpy = (a: { alpha: number; x: TensorData; y: TensorData }, o?: OpOptions) => call<{ y: TensorData }>('axpy', a, o);
export const adamUpdate = (a: AdamArgs, o?: OpOptions) =>
  call<{ param: TensorData; expAvg: TensorData; expAvgSq: TensorData }>('adamUpdate', a, o);
