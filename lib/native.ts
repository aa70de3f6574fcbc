// Loads the compiled addon (a prebuild for this platform, or the local CMake
// build) and declares, with types, what it exports. Nothing else in lib/ touches
// the addon directly.
import * as path from 'path';

/** A dense float32 tensor crossing the N-API boundary: contiguous, row-major (NCHW for images). */
export interface TensorData {
  data: Float32Array;
  shape: number[];
}

export interface PluginInfo {
  path: string;
  loaded: boolean;
  /** ok | no-driver | no-device | error | not-built | load-failed */
  status: string;
  message: string;
  driverVersion?: number;
  runtimeVersion?: number;
  archs?: string;
  devices: { index: number; name: string; computeCapability: string; totalMemory: number; multiprocessors: number }[];
}

export interface NativeInfo {
  addonDir: string;
  threads: number;
  /** Microseconds an engine thread spins for the next parallel region before it sleeps (CORNERNET_SPIN_US). */
  spinMicroseconds: number;
  isa: string;
  bestIsa: string;
  cpuFeatures: string[];
  cudaBuilt: boolean;
  cuda: PluginInfo;
  cudaEmu: PluginInfo;
  /** The MPI process group (libcornernet_mpi.so, for ranks under mpirun): loads? its MPI library, or why not. */
  mpi: { available: boolean; library: string; message: string };
}

/** Every op: `op(args, backend?)` runs inline, `opAsync(args, backend?)` off the event loop. */
export type NativeOpFn = (args: Record<string, unknown>, backend?: string) => Record<string, TensorData>;
export type NativeOpAsyncFn = (args: Record<string, unknown>, backend?: string) => Promise<Record<string, TensorData>>;

/** An optional vendor library a backend may use (cuDNN, cuBLAS, NCCL on CUDA backends). */
export interface BackendLibraryInfo {
  name: string;
  /** Loaded, with every function this build calls. */
  found: boolean;
  /** Found, initialised and not disabled: ops may run on it. */
  enabled: boolean;
  /** e.g. "9.6.0"; empty when unknown. */
  version: string;
  /** The file it was loaded from. */
  path: string;
  /** What it is used for, or why it is not used (not found: the sonames tried; disabled: the failed check). */
  message: string;
  /** Ops that ran on it so far on this backend. */
  uses: number;
}

export interface BackendInfo {
  name: string;
  device: string;
  /** Engine op names (snake_case, as in native/engine/backend.h) this backend has kernels for. */
  supports: string[];
  /** Optional libraries (cuDNN, cuBLAS, NCCL) and their state; empty on the CPU. */
  libraries: BackendLibraryInfo[];
  /** The figures of the memory pool this backend's tensors come from, at the time of the call: the host pool on the CPU, the device pool on CUDA. */
  memory: BackendMemory;
}

/**
 * A pool of the engine's caching allocator (native/engine/caching_allocator.h):
 * the host pool behind every CPU tensor, or a CUDA backend's device pool (with
 * its pinned staging buffers).
 */
export interface BackendMemory {
  /** Bytes in blocks held by live tensors (block sizes: host 64 B classes up to 1 MiB, then 64 KiB; CUDA 512 B, then 2 MiB). */
  inUse: number;
  /** Bytes in free blocks kept for reuse. */
  cached: number;
  /** Highest `inUse` since the pool was created (the host pool: since the addon loaded). */
  peak: number;
  /** Blocks asked of the system so far (cudaMalloc; mmap or aligned_alloc on the host): flat once a loop's shapes have all been seen. */
  mallocs: number;
  /** Blocks given back to the system so far (over the cap, to stay under the peak, on release, when memory runs out). */
  frees: number;
  /** Requests served from the cache so far. */
  reuses: number;
  /** Requests served by resizing a cached block of another size (host: mremap of a mapped block, its pages kept). */
  resizes: number;
  /** Most bytes kept cached (host: CORNERNET_HOST_CACHE_MB, default a quarter of the machine's memory). */
  cap: number;
  /** CUDA backends: bytes of page-locked host buffers that stage uploads and downloads. */
  pinned?: number;
  /** CUDA backends: cudaHostAlloc calls so far. */
  pinnedAllocs?: number;
}

/** The engine's CornerNet (native/bindings/model.cc); lib/model.ts is its typed face. */
export interface NativeModel {
  keys(): { name: string; shape: number[]; kind: 'parameter' | 'buffer'; dtype: 'float32' | 'int64' }[];
  parameterCount(): number;
  backend(): string;
  outputShapes(inputShape: number[]): Record<string, number[]>[];
  loadStateDict(
    dict: Record<string, { data: Float32Array | BigInt64Array; shape: number[] }>,
    opts?: { strict?: boolean }
  ): { loaded: number; missing: string[]; unexpected: string[]; mismatched: string[] };
  stateDict(): Record<string, { data: Float32Array | BigInt64Array; shape: number[] }>;
  forward(input: TensorData, opts?: { train?: boolean; grad?: boolean }): Promise<Record<string, TensorData>[]>;
  backward(grads: Record<string, TensorData | undefined>[]): Promise<void>;
  gradients(): Record<string, TensorData>;
  zeroGrad(): void;
  detect(args: object): Promise<unknown>;
  /** Frees the network now, or when the async call in flight ends; later calls throw. */
  release(): void;
  released(): boolean;
}

/** One op of the engine's list (native/engine/ops.def). */
export interface EngineOp {
  /** Engine name, e.g. "corner_pool_forward" (what BackendInfo.supports lists). */
  name: string;
  /** Binding name: `ops.<js>` and `ops.<js>Async`. */
  js: string;
  /** The file that holds the op in each backend (native/cpu/<family>.cc, native/cuda/<family>.cu). */
  family: string;
}

export interface NativeAddon {
  info(): NativeInfo;
  backendInfo(backend: string): BackendInfo;
  /** Gives the cached blocks of a backend's pool ('cpu', the default: the host pool) back to the system; its figures after. */
  releaseCachedMemory(backend?: string): BackendMemory;
  engineOps(): EngineOp[];
  /** The engine ops a training run ('train') or a forward pass ('test') needs. */
  modelOps(purpose: 'train' | 'test'): string[];
  ops: Record<string, NativeOpFn | NativeOpAsyncFn>;
  /** Measured fp32 FMA throughput (GFLOP/s) of one thread, or of every engine thread at once; for bench/. */
  fmaPeakGflops(args?: { isa?: string; allThreads?: boolean; seconds?: number }): number;
  /** Best GFLOP/s of the engine's SGEMM on n^3 with preallocated buffers (no JS tensor per call); for bench/. */
  sgemmGflops(args?: { n?: number; allThreads?: boolean; reps?: number }): number;
  /** CornerNet decoding (typed in lib/decode.ts). */
  decode: (args: object) => unknown;
  decodeAsync: (args: object) => Promise<unknown>;
  softNms: (args: object) => unknown;
  softNmsMerge: (args: object) => unknown;
  Model: new (config: object, opts?: { backend?: string; seed?: number }) => NativeModel;
  /**
   * The trainer's all-reduce buckets (native/train/grad_buckets.h): entry indices per bucket, in reverse
   * registration order, or with `arrived` as rebuilt after a step whose gradients became final in that order.
   */
  gradBuckets(numel: number[], isParam: boolean[], capBytes: number, arrived?: number[]): number[][];
  /** One replica's bucket launches as gradients become final: per ready entry, the buckets launched then. */
  bucketSchedule(buckets: number[][], entryCount: number, readyOrder: number[]): { launches: number[][]; remaining: number[] };
}

let cached: NativeAddon | undefined;

/** The package root (holds package.json, build/, prebuilds/). */
export const packageRoot: string = path.resolve(__dirname, '..', '..');

export function native(): NativeAddon {
  if (cached) return cached;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = require('node-gyp-build') as (dir: string) => unknown;
  try {
    cached = load(packageRoot) as NativeAddon;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(
      `cornernet-native: the native addon could not be loaded (${msg.split('\n')[0]}). ` +
        `Build it with \`npm run build:native\` (needs a C++17 compiler, CMake and python3).`
    );
  }
  return cached;
}
