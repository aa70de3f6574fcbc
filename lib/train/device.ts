// Which backend a run uses: `--device cpu|cuda|cuda:N|cuda-emu|auto`. The backend
// must have a kernel for every op the run needs (the engine says which:
// modelOps('train') for training, modelOps('test') for test and detect).
// `auto` takes the first GPU when one works and says so, or says why it stays on
// the CPU; an explicit CUDA device that cannot run fails, naming what is missing
// (driver, device, kernels).
import { native } from '../native';

export type DevicePurpose = 'train' | 'test';

function missingOps(backend: string, purpose: DevicePurpose): string[] {
  let supports: string[];
  try {
    supports = native().backendInfo(backend).supports;
  } catch (e) {
    // The engine says why (no plugin, no driver, no device, bad index); say which flag asked for it.
    throw new Error(`--device ${backend}: ${(e as Error).message.replace(/^backendInfo: backend '[^']*': /, '')}`);
  }
  const have = new Set(supports);
  return native().modelOps(purpose).filter((o) => !have.has(o));
}

export function resolveTrainingBackend(device: string, log: (line: string) => void = () => {}, purpose: DevicePurpose = 'train'): string {
  if (device === 'cpu') return 'cpu';
  const what = purpose === 'train' ? 'training' : 'running the model';
  if (device === 'auto') {
    const c = native().info().cuda;
    if (!(c.loaded && c.status === 'ok' && c.devices.length > 0)) {
      if (c.status !== 'not-built') log(`device auto: no usable GPU (${c.message}); ${what} on the CPU`);
      return 'cpu';
    }
    const missing = missingOps('cuda:0', purpose);
    if (missing.length) {
      log(`device auto: cuda:0 is present but this version's CUDA backend has no kernel for ${missing.join(', ')}; ${what} on the CPU`);
      return 'cpu';
    }
    log(`device auto: ${what} on cuda:0 (${c.devices[0]!.name})`);
    return 'cuda:0';
  }
  const backend = device === 'cuda' ? 'cuda:0' : device;
  // backendInfo throws the reason a CUDA device cannot be used (no plugin, no driver, no device, bad index).
  const missing = missingOps(backend, purpose);
  if (missing.length)
    throw new Error(`--device ${device}: this version's ${backend === 'cuda-emu' ? 'CUDA emulator' : 'CUDA backend'} has no kernel for ${missing.join(', ')}; use --device cpu`);
  return backend;
}
