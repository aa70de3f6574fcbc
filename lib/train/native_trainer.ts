// Typed wrapper of the engine's Trainer: training steps run on a dedicated
// native thread; this side feeds batches, receives one event per step, and asks
// for snapshots (checkpoints) and loads (resume) between steps.
import { DisposedError, Lifecycle } from '../lifecycle';
import { native, type TensorData } from '../native';
import type { ProcessGroup } from './distributed';

/** The architecture, camelCase of the reference's HourglassNet/CornerHead arguments. */
export interface ModelArchitecture {
  numStacks: number;
  downsampleTimes: number;
  stageChannels: number[];
  stageBlocks: number[];
  featChannel: number;
  numClasses: number;
  cornerEmbChannels?: number;
  poolFeatChannels?: number;
  headFeatChannels?: number;
  bnEps?: number;
  bnMomentum?: number;
}

export interface NativeTrainerOptions {
  model: ModelArchitecture;
  /** Data-parallel replicas, each taking batch/replicas images. */
  replicas?: number;
  /** 'cpu', 'cuda', 'cuda:N' (replicas > 1 on cuda use one device each), 'cuda-emu' (tests). */
  backend?: string;
  /**
   * Several CUDA replicas with NCCL: the all-reduce bucket size in bytes (default 25 MiB, as DDP);
   * buckets start while backward runs. Ignored without NCCL and on the CPU.
   */
  allReduceBucketBytes?: number;
  /** Parameter initialisation seed. */
  seed?: number;
  adam?: { beta1?: number; beta2?: number; eps?: number; weightDecay?: number; gradClip?: number | null };
  loss?: { pullWeight?: number; pushWeight?: number; offsetBeta?: number };
  /** BN with running statistics, not updated (fine-tuning with tiny batches; exact replica comparisons). */
  frozenBn?: boolean;
  /**
   * The ranks (processes) this trainer trains with: gradients are summed over them,
   * losses averaged, and every rank applies the same update. Every rank must make
   * the same calls (syncFromRoot, then the same number of feeds).
   */
  group?: ProcessGroup;
}

export interface TrainBatch {
  /** [N, 3, H, W], normalised; H, W the padded network input. */
  images: TensorData;
  /** Per image: x1, y1, x2, y2 per box, in input pixels. */
  boxes: Float32Array[];
  /** Per image: contiguous class index per box. */
  labels: Int32Array[];
  lr: number;
  iter: number;
}

export interface StepEvent {
  type: 'step' | 'nonfinite';
  iter: number;
  /** det/pull/push/off per stack: det_l0, pull_l0, ..., off_l1. */
  losses: Record<string, number>;
  total: number;
  /** Of the replica-averaged gradient, before clipping. */
  gradNorm: number;
  seconds: number;
  /** Time the trainer thread waited for this batch. */
  waitSeconds: number;
  /** nonfinite: the first term that was NaN or Inf, e.g. "det (stack 0)", or "gradient norm". */
  term?: string;
  /** Several CUDA replicas on NCCL: all-reduce buckets per replica, and how many started during backward. */
  allReduce?: { buckets: number; duringBackward: number };
  /** With a group: some rank asked to stop (requestStop) before this step; every rank stops after it. */
  stop?: ('interrupted' | 'max-minutes')[];
}
export interface ErrorEvent {
  type: 'error';
  iter: number;
  message: string;
}
export interface CancelledEvent {
  type: 'cancelled';
  dropped: number;
}
export type TrainerEvent = StepEvent | ErrorEvent | CancelledEvent;

export type StateDict = Record<string, { data: Float32Array | BigInt64Array; shape: number[] }>;
export interface OptimizerState {
  [param: string]: { expAvg: TensorData; expAvgSq: TensorData; step: number };
}
export interface TrainerState {
  stateDict: StateDict;
  optimizer: OptimizerState;
}
export interface LoadReport {
  loaded: number;
  missing: string[];
  unexpected: string[];
  mismatched: string[];
}

interface NativeTrainerHandle {
  feed(b: TrainBatch): number;
  snapshot(): Promise<TrainerState>;
  load(s: { stateDict: StateDict; optimizer?: OptimizerState }, o?: { strict?: boolean }): Promise<LoadReport>;
  cancel(): void;
  close(): Promise<void>;
  pending(): number;
  keys(): { name: string; shape: number[]; kind: string }[];
  syncFromRoot(): Promise<void>;
  requestStop(why: 'interrupted' | 'max-minutes'): void;
}

export class NativeTrainer {
  private readonly handle: NativeTrainerHandle;
  private readonly lifecycle: Lifecycle;
  private closing: Promise<void> | null = null;

  constructor(opts: NativeTrainerOptions, onEvent: (e: TrainerEvent) => void) {
    const Ctor = (native() as unknown as { Trainer: new (o: NativeTrainerOptions, cb: (e: TrainerEvent) => void) => NativeTrainerHandle }).Trainer;
    const handle = new Ctor(opts, onEvent);
    this.handle = handle;
    // Dropped without close(), the training thread would live (and hold its
    // replicas) until the process ends: the backstop stops it.
    this.lifecycle = new Lifecycle(this, 'NativeTrainer', () => {
      handle.cancel();
      void handle.close();
    });
  }

  /** Queues one step; returns how many steps are queued or running. */
  feed(b: TrainBatch): number {
    this.check('feed');
    return this.handle.feed(b);
  }
  /** Steps fed but not yet reported. */
  get pending(): number {
    return this.handle.pending();
  }
  /** Weights (replica 0, BN statistics included) and optimizer state, after every queued step. */
  snapshot(): Promise<TrainerState> {
    return this.checked('snapshot', () => this.handle.snapshot());
  }
  /** Replaces weights (and optimizer state when given) on every replica. */
  load(s: { stateDict: StateDict; optimizer?: OptimizerState }, o?: { strict?: boolean }): Promise<LoadReport> {
    return this.checked('load', () => this.handle.load(s, o));
  }
  /** Drops queued steps once the running one ends; snapshot/load/close still work. */
  cancel(): void {
    this.handle.cancel();
  }
  keys(): { name: string; shape: number[]; kind: string }[] {
    this.check('keys');
    return this.handle.keys();
  }
  /** With a group: rank 0's weights, BN statistics and optimizer state on every rank (after queued steps). */
  syncFromRoot(): Promise<void> {
    return this.checked('syncFromRoot', () => this.handle.syncFromRoot());
  }
  /**
   * With a group: the next step carries the request to every rank; its event has `stop`,
   * and every rank then drops the steps fed after it.
   */
  requestStop(why: 'interrupted' | 'max-minutes'): void {
    this.check('requestStop');
    this.handle.requestStop(why);
  }
  /**
   * Ends the thread after what is queued; the engine frees the replicas,
   * gradients and optimizer moments as it ends. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.handle.close().finally(() => this.lifecycle.dispose());
    return this.closing;
  }
  /** Drops the queued steps, then closes: the step running ends first. */
  dispose(): Promise<void> {
    if (!this.closing) this.handle.cancel();
    return this.close();
  }
  /** `await using trainer = new NativeTrainer(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private check(method: string): void {
    this.lifecycle.check(method);
    if (this.closing) throw new DisposedError(`NativeTrainer.${method}: this NativeTrainer is closing (close() or dispose() was called)`);
  }
  private checked<T>(method: string, start: () => Promise<T>): Promise<T> {
    try {
      this.check(method);
    } catch (e) {
      return Promise.reject(e);
    }
    return start();
  }
}
