// Which backends a test can run an op on: those available here (lib/ops.ts
// availableBackends) that report kernels for every engine op it needs.
import { native } from '../../lib/native';
import { availableBackends } from '../../lib/ops';

const supportCache = new Map<string, Set<string>>();

export function backendSupports(backend: string, engineOps: string[]): boolean {
  let s = supportCache.get(backend);
  if (!s) {
    s = new Set(native().backendInfo(backend).supports);
    supportCache.set(backend, s);
  }
  return engineOps.every((op) => s.has(op));
}

/** Available backends split into those that run all of `engineOps` and those that lack one. */
export function backendsFor(engineOps: string[]): { run: string[]; lacking: string[] } {
  const all = availableBackends();
  return { run: all.filter((b) => backendSupports(b, engineOps)), lacking: all.filter((b) => !backendSupports(b, engineOps)) };
}

/** The title suffix saying where a test ran: " [cpu, cuda-emu]" or " [cpu; no kernel on cuda-emu]". */
export function backendTitle(split: { run: string[]; lacking: string[] }): string {
  const ran = split.run.length ? split.run.join(', ') : 'no backend';
  return ` [${ran}${split.lacking.length ? `; no kernel on ${split.lacking.join(', ')}` : ''}]`;
}
