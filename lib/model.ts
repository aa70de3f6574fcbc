// A CornerNet (HourglassNet backbone + CornerHead) in the native engine, with
// MMDetection's state_dict names. Weights are allocated on first use (forward,
// stateDict, loadStateDict), so building a model to list its keys or count its
// parameters costs nothing. forward/backward run off the event loop; a model
// runs one of them at a time (calls made meanwhile are refused, not queued).
// dispose() (or `await using`) frees the engine memory at once.
import { loadModelConfig, validateModelConfig, type ModelConfig } from './configs';
import type { DecodedImage, DecodeOptions, ImageMeta } from './decode';
import { Lifecycle } from './lifecycle';
import { native, type NativeModel, type TensorData } from './native';

/** The head's outputs, in the reference's order (heat = logits before the sigmoid; off channel 0 = x). */
export const headOutputNames = ['tlHeat', 'brHeat', 'tlEmb', 'brEmb', 'tlOff', 'brOff'] as const;
export type HeadOutputName = (typeof headOutputNames)[number];
/** One level (stack) of head outputs; the last level is the one decoded at test time. */
export type HeadOutputs = Record<HeadOutputName, TensorData>;

export interface StateKey {
  name: string;
  shape: number[];
  /** 'buffer': BN running statistics and num_batches_tracked (int64, 0-d). */
  kind: 'parameter' | 'buffer';
  dtype: 'float32' | 'int64';
}

export interface StateTensor {
  data: Float32Array | BigInt64Array;
  shape: number[];
}
export type StateDict = Record<string, StateTensor>;

export interface LoadReport {
  loaded: number;
  missing: string[];
  unexpected: string[];
  /** "<name> <why>" for entries of the wrong dtype or shape. */
  mismatched: string[];
}

export interface ModelOptions {
  /** 'cpu' (default), 'cpu:avx2', 'cuda:0', ... */
  backend?: string;
  /** Seed of the initial weights (the reference's initialisation, deterministic per seed). */
  seed?: number;
}

export interface ForwardOptions {
  /** Batch-statistics BN that updates the running statistics (default false). */
  train?: boolean;
  /** Keep what backward needs (default: same as train). */
  grad?: boolean;
}

export interface SummaryRow {
  module: string;
  tensors: number;
  parameters: number;
}

export interface ModelSummary {
  config: ModelConfig;
  rows: SummaryRow[];
  parameters: number;
  bufferElements: number;
  entries: number;
  parameterTensors: number;
}

export class Model {
  readonly config: ModelConfig;
  private readonly impl: NativeModel;
  private readonly lifecycle: Lifecycle;
  /** Settles when the forward, detect or backward in flight does (holding none of its results). */
  private inflight: Promise<void> = Promise.resolve();

  /** `config`: a ModelConfig (validated here) or a preset name / JSON file path. */
  constructor(config: ModelConfig | string, opts: ModelOptions = {}) {
    this.config = typeof config === 'string' ? loadModelConfig(config) : validateModelConfig(config);
    const impl = new (native().Model)(this.config, opts);
    this.impl = impl;
    this.lifecycle = new Lifecycle(this, 'Model', () => impl.release());
  }

  /** Every state_dict entry in the reference's order. */
  keys(): StateKey[] {
    this.lifecycle.check('keys');
    return this.impl.keys();
  }

  /** Trainable parameters (elements). */
  parameterCount(): number {
    this.lifecycle.check('parameterCount');
    return this.impl.parameterCount();
  }

  /** True once dispose() ran: every method but `backend` and `config` then throws. */
  get disposed(): boolean {
    return this.lifecycle.disposed;
  }

  /**
   * Frees the weights, gradients and kept activations now (or, when a forward,
   * detect or backward is in flight, as soon as it ends). Calling it again does nothing.
   */
  dispose(): void {
    this.lifecycle.dispose();
  }

  /** `await using model = new Model(...)`: waits for the call in flight, then disposes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.inflight;
    this.dispose();
  }

  /** Starts an async engine call unless disposed, and remembers it for [Symbol.asyncDispose]. */
  private track<T>(what: string, start: () => Promise<T>): Promise<T> {
    try {
      this.lifecycle.check(what);
    } catch (e) {
      return Promise.reject(e);
    }
    const p = start();
    // Not p itself: a disposed model kept referenced would keep the last outputs alive.
    this.inflight = p.then(
      () => {},
      () => {},
    );
    return p;
  }

  get backend(): string {
    return this.impl.backend();
  }

  /** Output shapes of forward() for an input of shape [N, 3, H, W]; throws on sizes the hourglass cannot take. */
  outputShapes(inputShape: number[]): Record<HeadOutputName, number[]>[] {
    this.lifecycle.check('outputShapes');
    return this.impl.outputShapes(inputShape) as Record<HeadOutputName, number[]>[];
  }

  /**
   * Loads weights by name. strict (default): any missing, unexpected or
   * wrong-shaped entry throws an Error listing the first few of each kind (all
   * of them in its `.report`) and nothing is loaded; strict: false loads what matches and reports the rest.
   */
  loadStateDict(dict: StateDict, opts: { strict?: boolean } = {}): LoadReport {
    this.lifecycle.check('loadStateDict');
    return this.impl.loadStateDict(dict, opts);
  }

  /** A copy of every entry, in the reference's order (num_batches_tracked as 0-d BigInt64Array). */
  stateDict(): StateDict {
    this.lifecycle.check('stateDict');
    return this.impl.stateDict();
  }

  /** Head outputs of every stack (index = stack), for input [N, 3, H, W]. */
  async forward(input: TensorData, opts: ForwardOptions = {}): Promise<HeadOutputs[]> {
    return (await this.track('forward', () => this.impl.forward(input, opts))) as HeadOutputs[];
  }

  /**
   * Test-time detection: an eval forward of `input` (and of `mirror`, the
   * horizontally flipped input, for the flip test), then CornerNet decoding of the
   * last stack on the model's backend (Backend::decode). On a CUDA backend the head
   * maps never leave the device; only the detections are downloaded. On the CPU
   * this gives what forward() followed by decode() gives.
   */
  async detect(input: TensorData, opts: DecodeOptions & { mirror?: TensorData; meta: ImageMeta | ImageMeta[] }): Promise<DecodedImage[]> {
    return (await this.track('detect', () => this.impl.detect({ ...opts, input }))) as DecodedImage[];
  }

  /**
   * Back-propagates gradients of the head outputs of the last forward (run with
   * train or grad) and adds the parameter gradients to those held since the last
   * zeroGrad(). An omitted output contributes nothing.
   */
  backward(grads: Partial<HeadOutputs>[]): Promise<void> {
    return this.track('backward', () => this.impl.backward(grads));
  }

  /** Copies of the parameter gradients; parameters no backward has reached are absent. */
  gradients(): Record<string, TensorData> {
    this.lifecycle.check('gradients');
    return this.impl.gradients();
  }

  zeroGrad(): void {
    this.lifecycle.check('zeroGrad');
    this.impl.zeroGrad();
  }

  summary(): ModelSummary {
    const keys = this.keys();
    const rows = new Map<string, SummaryRow>();
    let bufferElements = 0;
    let parameterTensors = 0;
    for (const k of keys) {
      const n = k.shape.reduce((a, b) => a * b, 1);
      if (k.kind === 'buffer') {
        bufferElements += n;
        continue;
      }
      parameterTensors += 1;
      // backbone.<module>[.<stack>] / bbox_head.<branch>: per-stack hourglasses apart, head branches over levels.
      const parts = k.name.split('.');
      const module = parts[1] === 'hourglass_modules' ? parts.slice(0, 3).join('.') : parts.slice(0, 2).join('.');
      const row = rows.get(module) ?? { module, tensors: 0, parameters: 0 };
      row.tensors += 1;
      row.parameters += n;
      rows.set(module, row);
    }
    return {
      config: this.config,
      rows: [...rows.values()],
      parameters: this.parameterCount(),
      bufferElements,
      entries: keys.length,
      parameterTensors,
    };
  }
}

const fmt = (n: number): string => n.toLocaleString('en-US');

export function formatSummary(s: ModelSummary): string {
  const c = s.config;
  const lines = [
    `CornerNet: HourglassNet (${c.numStacks} stack${c.numStacks === 1 ? '' : 's'}, ${c.downsampleTimes} halvings, ` +
      `channels ${c.stageChannels.slice(0, c.downsampleTimes + 1).join('/')}, blocks ${c.stageBlocks.slice(0, c.downsampleTimes + 1).join('/')}, ` +
      `feature ${c.featChannel}) + CornerHead (${c.numClasses} classes, embedding ${c.cornerEmbChannels}, ` +
      `pool ${c.poolFeatChannels}, branches ${c.headFeatChannels}, one level per stack)`,
    '',
  ];
  const width = Math.max(...s.rows.map((r) => r.module.length), 6);
  const pw = Math.max(...s.rows.map((r) => fmt(r.parameters).length), fmt(s.parameters).length);
  lines.push(`${'module'.padEnd(width)}  ${'tensors'.padStart(7)}  ${'parameters'.padStart(pw)}`);
  for (const r of s.rows) lines.push(`${r.module.padEnd(width)}  ${String(r.tensors).padStart(7)}  ${fmt(r.parameters).padStart(pw)}`);
  lines.push(`${'total'.padEnd(width)}  ${String(s.parameterTensors).padStart(7)}  ${fmt(s.parameters).padStart(pw)}`);
  lines.push('');
  lines.push(`trainable parameters: ${fmt(s.parameters)} (${(s.parameters * 4 / 1e6).toFixed(1)} MB as float32)`);
  lines.push(`state_dict entries: ${s.entries} (${s.parameterTensors} parameters; ${fmt(s.bufferElements)} BN buffer elements)`);
  return lines.join('\n');
}
