// The GPU side of the benchmark table: which backend the groups time besides
// the CPU, and the helpers every GPU-timing group shares (which ops that
// backend lacks, a device copy of the same bytes as the memory-bound baseline).
//
// The backend is the first `cuda:N` of availableBackends() (listed only when a
// driver and a device work). The CUDA emulator is never picked: it runs the
// kernels on the host, so its times say nothing about a GPU. `--gpu-backend
// NAME` (a testing option of bench/run.ts) forces one, cuda-emu included, so
// that tests exercise the GPU code path at tiny sizes.
import { native } from '../lib/native';
import * as ops from '../lib/ops';
import type { TensorData } from '../lib/ops';

export interface GpuTarget {
  /** Backend name for lib/ops.ts and the engine: 'cuda:0', or 'cuda-emu' when forced. */
  backend: string;
  /** What it is, for the header: the device's name and size. */
  device: string;
  /** Not a GPU (cuda-emu or a CPU backend, forced with --gpu-backend): figures exercise the code path, they time the host. */
  emulated: boolean;
  /** Engine op names the backend has kernels for (backendInfo().supports). */
  supports: Set<string>;
}

/** The GPU's figure for one row of the table (BenchResult.gpu). */
export interface GpuFigure {
  backend: string;
  /** The GPU's value, in `metric` (absent when there is none: `missing` says why). */
  value?: number;
  metric?: string;
  /** What the value is compared with, as text: "1.85x a device copy", "6100 GFLOP/s", "CPU 41.2 ms/img: 9.3x faster". */
  compare?: string;
  /** Why there is no value: "no kernel for corner_pool_backward". */
  missing?: string;
  details?: Record<string, number | string>;
}

/** The probe's reason when there is no GPU: the CUDA plugin's status and message. */
export function noGpuReason(): string {
  const c = native().info().cuda;
  if (c.status === 'not-built') return 'CUDA plugin not built: compiled without nvcc, or with CORNERNET_CUDA=0';
  if (c.status === 'ok') return 'the CUDA plugin loaded but lists no device';
  return `CUDA ${c.status}${c.message ? `: ${c.message}` : ''}`;
}

/**
 * The GPU backend to time, or null with the reason. `forced` (--gpu-backend)
 * is used whatever it is, and fails loudly when the engine cannot open it.
 */
export function findGpu(forced?: string): { gpu: GpuTarget | null; reason: string } {
  const i = native().info();
  let backend = forced;
  if (backend === undefined) {
    backend = ops.availableBackends().find((b) => b.startsWith('cuda:'));
    if (backend === undefined) return { gpu: null, reason: noGpuReason() };
  }
  // Throws the engine's reason (no plugin, no driver, bad index) for a forced name.
  const info = native().backendInfo(backend);
  // Only cuda:N is a GPU; cuda-emu and a CPU backend can be forced for tests.
  const emulated = !/^cuda:\d+$/.test(backend);
  let device = info.device;
  if (!emulated) {
    const idx = Number(/^cuda:(\d+)$/.exec(backend)?.[1] ?? 0);
    const d = i.cuda.devices.find((x) => x.index === idx);
    if (d) device = `${d.name}, compute ${d.computeCapability}, ${d.multiprocessors} SMs, ${(d.totalMemory / 1024 ** 3).toFixed(0)} GiB`;
  } else if (backend === 'cuda-emu') {
    device = 'the CUDA emulator on the host CPU: NOT a GPU, its figures only show that the GPU columns work';
  } else {
    device = `a CPU backend (${info.device}): NOT a GPU, forced to test the GPU columns`;
  }
  return { gpu: { backend, device, emulated, supports: new Set(info.supports) }, reason: '' };
}

/** The ops of `needed` the GPU has no kernel for. */
export function missingOps(gpu: GpuTarget, needed: readonly string[]): string[] {
  return needed.filter((o) => !gpu.supports.has(o));
}

/** "no kernel for a, b, c (+4 more)". */
export function noKernel(missing: readonly string[]): string {
  const shown = missing.slice(0, 3).join(', ');
  return `no kernel for ${shown}${missing.length > 3 ? ` (+${missing.length - 3} more)` : ''}`;
}

/** A figure-less cell that says why. */
export function missingFigure(gpu: GpuTarget, missing: readonly string[]): GpuFigure {
  return { backend: gpu.backend, missing: noKernel(missing) };
}

const median = (ms: ArrayLike<number>) => {
  const s = Array.from(ms).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/**
 * The device's own copy of `x`'s bytes (the engine's copy op on the GPU,
 * kernel alone, median ms): the floor a memory-bound kernel that reads its
 * input once and writes its output once is measured against. GB/s counts the
 * bytes read and written.
 */
export function deviceCopy(gpu: GpuTarget, x: TensorData, reps: number, warmup: number): { ms: number; gbPerS: number } | null {
  if (!gpu.supports.has('copy')) return null;
  const ms = median(ops.timeKernel('copy', { x }, { backend: gpu.backend, reps, warmup }));
  return { ms, gbPerS: (2 * 4 * x.data.length) / (ms * 1e6) };
}

/** 3 significant digits or so: 6123, 61.2, 6.12, 0.61. */
export const fmt3 = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** The CPU's time per unit against the GPU's: "CPU 41.2 ms/img: 9.30x faster". */
export function versusCpu(cpuMs: number, gpuMs: number, unit = 'ms/img'): string {
  const r = cpuMs / gpuMs;
  const fmt = fmt3;
  return `CPU ${fmt(cpuMs)} ${unit}: ${r >= 1 ? `${fmt(r)}x faster` : `${fmt(1 / r)}x slower`}`;
}
