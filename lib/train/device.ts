// Which backend a training run uses: `--device cpu|cuda|cuda:N|auto`. A backend
// must have a kernel for every op of a training step; `auto` takes the first GPU
// when it does and says why not when it falls back to the CPU.
import { native } from '../native';

function missingOps(backend: string): string[] {
  let supports: string[];
  try {
    supports = native().backendInfo(backend).supports;
  } catch (e) {
    // The engine says why (no plugin, no driver, no device, bad index); say which flag asked for it.
    throw new Error(`--device ${backend}: ${(e as Error).message.replace(/^backendInfo: backend '[^']*': /, '')}`);
  }
  const have = new Set(supports);
  return native().modelOps('train').filter((o) => !have.has(o));
}

export function resolveTrainingBackend(device: string, log: (line: string) => void = () => {}): string {
  if (device === 'cpu') return 'cpu';
  if (device === 'auto') {
    const i = native().info();
    if (!(i.cuda.loaded && i.cuda.status === 'ok' && i.cuda.devices.length > 0)) return 'cpu';
    const missing = missingOps('cuda:0');
    if (missing.length === 0) return 'cuda:0';
    log(`device auto: cuda:0 is present but this version's CUDA backend has no kernel for ${missing.join(', ')}; training on the CPU`);
    return 'cpu';
  }
  // backendInfo throws the reason a CUDA device cannot be used (no plugin, no driver, no device, bad index).
  const missing = missingOps(device);
  if (missing.length)
    throw new Error(`--device ${device}: this version's CUDA backend has no kernel for ${missing.join(', ')}; train with --device cpu`);
  return device;
}
