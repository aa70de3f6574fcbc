// The CPU backends that force one SIMD path, limited to what this CPU runs, so
// every kernel variant is tested wherever the suite happens to run.
import { native } from '../../lib/native';

const ISA_ORDER = ['portable', 'avx2', 'avx512'];

/** 'cpu:portable', then 'cpu:avx2' and 'cpu:avx512' where this CPU supports them. */
export function cpuIsaBackends(): string[] {
  const best = ISA_ORDER.indexOf(native().info().bestIsa);
  return ISA_ORDER.slice(0, best + 1).map((isa) => `cpu:${isa}`);
}
