// The op table (bench/op_table.ts) as tests: every entry's backward against
// central finite differences on each backend that has its kernels, and every
// backend other than the default CPU one against the CPU on seeded random
// inputs of odd sizes.
import { native } from '../../lib/native';
import { availableBackends } from '../../lib/ops';
import { OP_TABLE, caseLabel, makeGradOutputs, type OpEntry, type OpCase, type Tensors } from '../../bench/op_table';
import { Rng } from '../../bench/rng';
import { assertClose } from '../helpers/assert_close';
import { backendSupports, backendsFor, backendTitle } from '../helpers/backends';
import { dot, gradcheck } from '../helpers/gradcheck';

const SEED = 20240611;

function lossOf(entry: OpEntry, c: OpCase, backend: string, gradOutputs: Tensors) {
  return (inputs: Tensors): number => {
    const out = entry.forward(inputs, c, backend);
    let s = 0;
    for (const name of entry.gradOutputs) s += dot(out[name]!, gradOutputs[name]!);
    return s;
  };
}

describe('op table: backward against finite differences', () => {
  for (const entry of OP_TABLE) {
    const where = backendsFor(entry.engineOps);
    if (entry.gradInputs.length === 0) {
      // An optimizer step: no gradient to check; its forward is compared across backends below.
      it(`${entry.name}: forward only, no gradient`);
      continue;
    }
    for (const [k, c] of entry.cases.test.entries()) {
      it(`${entry.name} ${caseLabel(c)}${backendTitle(where)}`, () => {
        for (const backend of where.run) {
          const rng = new Rng(SEED + k);
          const inputs = entry.makeInputs(c, rng);
          const outputs = entry.forward(inputs, c, backend);
          const gradOutputs = makeGradOutputs(entry, outputs, rng);
          const analytic = entry.backward(inputs, outputs, gradOutputs, c, backend);
          gradcheck(
            { inputs, wrt: entry.gradInputs, loss: lossOf(entry, c, backend, gradOutputs), analytic, h: entry.tolerance.h, tolerance: entry.tolerance.gradcheck },
            `${entry.name} ${caseLabel(c)} [${backend}]`
          );
        }
      });
    }
  }
});

/** Backends compared with 'cpu': the others available here, and the CPU's other SIMD paths. */
function comparedBackends(): string[] {
  const info = native().info();
  const isas = ['portable', 'avx2', 'avx512'];
  const cpuVariants = isas.slice(0, isas.indexOf(info.bestIsa) + 1).filter((i) => i !== info.isa).map((i) => `cpu:${i}`);
  return [...availableBackends().filter((b) => b !== 'cpu'), ...cpuVariants];
}

describe('op table: every backend against the cpu', () => {
  const others = comparedBackends();
  if (others.length === 0) it('no backend besides cpu here (cuda-emu appears once its plugin is built)');
  for (const backend of others) {
    for (const entry of OP_TABLE) {
      if (!backendSupports(backend, entry.engineOps)) {
        it(`${entry.name} on ${backend}: no kernel on this backend`);
        continue;
      }
      for (const [k, c] of [...entry.cases.test, ...entry.cases.cross].entries()) {
        it(`${entry.name} ${caseLabel(c)} on ${backend}`, () => {
          const rng = new Rng(SEED + 100 + k);
          const inputs = entry.makeInputs(c, rng);
          const cpuOut = entry.forward(inputs, c, 'cpu');
          const otherOut = entry.forward(inputs, c, backend);
          const tol = entry.tolerance.crossBackend;
          for (const [name, t] of Object.entries(cpuOut)) assertClose(`${entry.name} [${backend}] ${name}`, otherOut[name]!, t, tol);
          const gradOutputs = makeGradOutputs(entry, cpuOut, rng);
          const cpuGrad = entry.backward(inputs, cpuOut, gradOutputs, c, 'cpu');
          const otherGrad = entry.backward(inputs, otherOut, gradOutputs, c, backend);
          for (const [name, t] of Object.entries(cpuGrad)) assertClose(`${entry.name} [${backend}] grad ${name}`, otherGrad[name]!, t, tol);
        });
      }
    }
  }
});
