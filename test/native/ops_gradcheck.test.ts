// The op table (bench/op_table.ts) as tests: every entry's backward against
// central finite differences on each backend that has its kernels, and every
// backend other than the default CPU one against the CPU on seeded random
// inputs of odd sizes.
import { native } from '../../lib/native';
import { availableBackends } from '../../lib/ops';
import * as assert from 'node:assert/strict';
import { OP_TABLE, caseLabel, engineOpNames, makeGradOutputs, type OpEntry, type OpCase, type Tensors } from '../../bench/op_table';
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

describe('op table: covers the engine\'s op list', () => {
  const engine = native().engineOps();
  it('every engine op has an entry with test and cross-backend cases', () => {
    const covered = new Set(OP_TABLE.filter((e) => e.cases.test.length && e.cases.cross.length).flatMap((e) => e.engineOps));
    const missing = engine.map((o) => o.name).filter((n) => !covered.has(n));
    assert.deepEqual(missing, [], `engine ops without op-table cases: ${missing.join(', ')}`);
  });
  it('every entry names only engine ops and calls only engine bindings', () => {
    const names = new Set(engine.map((o) => o.name));
    for (const e of OP_TABLE) {
      for (const op of e.engineOps) assert.ok(names.has(op), `${e.name}: '${op}' is not an engine op`);
      // Entries of special values (ties, NaN) have cross-backend cases only.
      const c = e.cases.test[0] ?? e.cases.cross[0]!;
      const call = e.forwardCall(e.makeInputs(c, new Rng(1)), c);
      assert.ok(engineOpNames().has(call.op), `${e.name}: forward calls '${call.op}', not an engine op`);
    }
  });
  it('every engine op is bound as ops.<js> and ops.<js>Async', () => {
    for (const o of engine) {
      assert.equal(typeof native().ops[o.js], 'function', `ops.${o.js}`);
      assert.equal(typeof native().ops[`${o.js}Async`], 'function', `ops.${o.js}Async`);
    }
  });
  it('the cpu is available and supports every engine op (the reference of every comparison)', () => {
    assert.ok(availableBackends().includes('cpu'));
    assert.deepEqual(native().backendInfo('cpu').supports, engine.map((o) => o.name));
  });
  it('names are unique', () => {
    assert.equal(new Set(OP_TABLE.map((e) => e.name)).size, OP_TABLE.length);
  });
});

describe('op table: backward against finite differences', () => {
  // Entries with no gradient inputs (the Adam step) are compared across backends only.
  for (const entry of OP_TABLE.filter((e) => e.gradInputs.length > 0)) {
    const where = backendsFor(entry.engineOps);
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
