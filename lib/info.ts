// What the engine can run on here: the `cornernet info` report, as data and as text.
import { type BackendInfo, native, type NativeInfo, type PluginInfo } from './native';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../../package.json') as { version: string };

export const version: string = pkg.version;

export interface EngineInfo extends NativeInfo {
  version: string;
  /** The backend `--device auto` picks: cuda:0 when usable, else cpu. */
  defaultBackend: string;
  /**
   * Each CUDA backend this machine can open (cuda:N per usable device, cuda-emu when
   * its plugin loaded): the ops it runs and its optional libraries (cuDNN, cuBLAS).
   * A backend that fails to open is listed with `error` instead.
   */
  cudaBackends: (BackendInfo | { name: string; error: string })[];
}

export function info(): EngineInfo {
  const n = native().info();
  const cudaOk = n.cuda.loaded && n.cuda.status === 'ok' && n.cuda.devices.length > 0;
  const names = [...(cudaOk ? n.cuda.devices.map((d) => `cuda:${d.index}`) : []), ...(n.cudaEmu.loaded ? ['cuda-emu'] : [])];
  const cudaBackends = names.map((name) => {
    try {
      return native().backendInfo(name);
    } catch (e) {
      return { name, error: (e as Error).message };
    }
  });
  return { ...n, version, defaultBackend: cudaOk ? 'cuda:0' : 'cpu', cudaBackends };
}

/** One line per optional library of a CUDA backend: found (version) and used, or why not. */
export function libraryLines(b: BackendInfo): string[] {
  return b.libraries.map((l) => {
    const head = `${l.name}${l.version ? ` ${l.version}` : ''}`;
    if (!l.found) return `${l.name}: not available: ${l.message}`;
    const where = l.path ? ` (${l.path})` : '';
    const state = l.enabled ? (l.uses ? `used, ${l.uses} op(s) so far` : 'enabled') : 'found, not used';
    return `${head}${where}: ${state}: ${l.message}`;
  });
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
    `threads:      ${i.threads}`,
    `cuda:         ${cudaLine(i.cuda, i.cudaBuilt)}`,
  ];
  for (const d of i.cuda.devices) {
    lines.push(`  cuda:${d.index}  ${d.name}, sm_${d.computeCapability.replace('.', '')}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, ${d.multiprocessors} SMs`);
  }
  lines.push(`cuda-emu:     ${i.cudaEmu.loaded ? 'available (CUDA kernels run on the host, for tests)' : i.cudaEmu.message}`);
  for (const b of i.cudaBackends) {
    if ('error' in b) {
      lines.push(`${b.name}: cannot be opened: ${b.error}`);
      continue;
    }
    lines.push(`${b.name} runs ${b.supports.length} op(s) on the device: ${b.supports.join(' ') || 'none'}`);
    for (const l of libraryLines(b)) lines.push(`  ${l}`);
  }
  return lines.join('\n');
}
