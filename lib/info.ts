// What the engine can run on here: the `cornernet info` report, as data and as text.
import { type BackendLibraryInfo, native, type NativeInfo, type PluginInfo } from './native';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../../package.json') as { version: string };

export const version: string = pkg.version;

/** What one usable backend runs, by the engine's op list. */
export interface BackendOps {
  backend: string;
  supports: string[];
  /** Engine ops without a kernel on this backend. */
  missing: string[];
  /** Optional libraries of CUDA backends (cuDNN, cuBLAS, NCCL): found (version) and used, or why not; empty on the CPU. */
  libraries: BackendLibraryInfo[];
}

export interface EngineInfo extends NativeInfo {
  version: string;
  /** The backend `--device auto` picks: cuda:0 when usable and complete, else cpu. */
  defaultBackend: string;
  /** The engine's op count and, per usable backend (cpu, each GPU, the emulator), the ops it runs. */
  engineOpCount: number;
  backends: BackendOps[];
}

export function info(): EngineInfo {
  const n = native().info();
  const all = native().engineOps().map((o) => o.name);
  const names = ['cpu'];
  if (n.cuda.loaded && n.cuda.status === 'ok') names.push(...n.cuda.devices.map((d) => `cuda:${d.index}`));
  if (n.cudaEmu.loaded && n.cudaEmu.status === 'ok') names.push('cuda-emu');
  const backends: BackendOps[] = [];
  for (const b of names) {
    try {
      const { supports, libraries } = native().backendInfo(b);
      backends.push({ backend: b, supports, missing: all.filter((o) => !supports.includes(o)), libraries });
    } catch {
      // A device the probe listed but that cannot be opened: the cuda line says why.
    }
  }
  const train = native().modelOps('train');
  const gpu = backends.find((b) => b.backend === 'cuda:0');
  const defaultBackend = gpu && train.every((o) => gpu.supports.includes(o)) ? 'cuda:0' : 'cpu';
  return { ...n, version, defaultBackend, engineOpCount: all.length, backends };
}

/** One line per optional library of a backend: found (version, file) and used, or why not. */
export function libraryLines(libraries: BackendLibraryInfo[]): string[] {
  return libraries.map((l) => {
    if (!l.found) return `${l.name}: not available: ${l.message}`;
    const head = `${l.name}${l.version ? ` ${l.version}` : ''}${l.path ? ` (${l.path})` : ''}`;
    const state = l.enabled ? (l.uses ? `used, ${l.uses} op(s) so far` : 'enabled') : 'found, not used';
    return `${head}: ${state}: ${l.message}`;
  });
}

function opsLine(b: BackendOps, total: number): string {
  if (b.missing.length === 0) return `all ${total} ops`;
  return `${b.supports.length} of ${total} ops (no kernel for ${b.missing.join(', ')})`;
}

function cudaLine(c: PluginInfo, built: boolean): string {
  if (!built || c.status === 'not-built') return 'not built (compiled without nvcc, or with CORNERNET_CUDA=0): using the CPU backend';
  if (c.status === 'load-failed') return `built, but the plugin did not load: ${c.message}`;
  const what = [c.runtimeVersion ? `runtime ${fmtCuda(c.runtimeVersion)}` : '', c.archs ? `archs ${c.archs}` : ''].filter((p) => p).join(', ');
  const head = `built${what ? ` (${what})` : ''}`;
  switch (c.status) {
    case 'ok':
      return `${head}; driver ${fmtCuda(c.driverVersion ?? 0)}, ${c.devices.length} device(s)`;
    case 'no-driver':
      return `${head}, but no usable NVIDIA driver here (${c.message}): using the CPU backend`;
    case 'no-device':
      return `${head}, but no CUDA device here (${c.message}): using the CPU backend`;
    default:
      return `${head}, but CUDA is unusable (${c.message}): using the CPU backend`;
  }
}

function fmtCuda(v: number): string {
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'unknown';
}

export function formatInfo(i: EngineInfo): string {
  const lines = [
    `cornernet-native ${i.version}`,
    `backend:      ${i.defaultBackend}`,
    `cpu kernels:  ${i.isa}${i.isa !== i.bestIsa ? ` (best available: ${i.bestIsa})` : ''}`,
    `cpu features: ${i.cpuFeatures.join(' ') || 'none detected'}`,
    `threads:      ${i.threads} (spin ${i.spinMicroseconds} us before sleeping)`,
    `cuda:         ${cudaLine(i.cuda, i.cudaBuilt)}`,
  ];
  for (const d of i.cuda.devices) {
    lines.push(`  cuda:${d.index}  ${d.name}, sm_${d.computeCapability.replace('.', '')}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, ${d.multiprocessors} SMs`);
  }
  lines.push(`cuda-emu:     ${i.cudaEmu.loaded ? 'available (CUDA kernels run on the host, for tests)' : i.cudaEmu.message}`);
  lines.push(`mpi:          ${i.mpi.available ? `${i.mpi.library} (CPU ranks under mpirun)` : i.mpi.message}`);
  lines.push('ops per backend:');
  for (const b of i.backends) {
    lines.push(`  ${b.backend.padEnd(10)} ${opsLine(b, i.engineOpCount)}`);
    for (const l of libraryLines(b.libraries)) lines.push(`  ${''.padEnd(10)} ${l}`);
  }
  return lines.join('\n');
}
