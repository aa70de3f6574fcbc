// Every engine op, forward and backward, on plain Float32Arrays: for tests,
// benchmarks and users who want the kernels without the model. Each op has a
// synchronous form and an `...Async` form that runs off the event loop.
// `backend` is 'cpu' (default), 'cpu:portable' | 'cpu:avx2' | 'cpu:avx512'
// (force a SIMD path), 'cuda', 'cuda:N', or 'cuda-emu' (CUDA kernels on the host).
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

export interface BatchNormArgs {
  x: TensorData;
  weight: TensorData;
  bias: TensorData;
  runningMean: TensorData;
  runningVar: TensorData;
  eps?: number;
  momentum?: number;
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

/** Backends usable here, for tests that run every op on each: 'cpu' first. */
export function availableBackends(): string[] {
  const i = native().info();
  const out = ['cpu'];
  if (i.cudaEmu.loaded && i.cudaEmu.status === 'ok') out.push('cuda-emu');
  if (i.cuda.loaded && i.cuda.status === 'ok') i.cuda.devices.forEach((d) => out.push(`cuda:${d.index}`));
  return out;
}

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
