// Batch norm on every CPU SIMD path (native/cpu/batch_norm_planes_*.cc) and the
// device backends, against a double-precision reference of the training and
// inference forward and backward. The shapes' planes are long enough for the
// widest vector loops (4 vectors of 8 doubles a step) and leave tails of every
// length class; one batch sits far from zero, where a one-pass variance would
// cancel.
import * as assert from 'node:assert/strict';

import * as ops from '../../lib/ops';
import type { TensorData } from '../../lib/ops';
import { backendsFor } from '../helpers/backends';
import { seeded } from '../helpers/random_tensor';
import { cpuIsaBackends } from './cpu_isas';

interface BnCase {
  name: string;
  shape: [number, number, number, number];
  offset: number;
  /** Tolerance of y and gradX, relative to their largest value. */
  rtol: number;
}

const CASES: BnCase[] = [
  { name: 'planes of 143 (vectors and a tail of 15)', shape: [3, 5, 13, 11], offset: 0, rtol: 1e-5 },
  { name: 'planes of 1,024, one image', shape: [1, 4, 32, 32], offset: 0.3, rtol: 1e-5 },
  // The mean is a float32 near 1000 (resolution 6e-5) and x - mean is taken in float32, so y and gradX
  // (and gradWeight, through x - mean) carry ~1e-4 of relative error whatever the reduction (measured 1.4e-5
  // of y's scale and 1.8e-5 of gradWeight's, the same on every backend).
  { name: 'planes of 37 around 1000', shape: [4, 3, 1, 37], offset: 1000, rtol: 1e-4 },
];

function data(shape: number[], seed: number, offset: number): TensorData {
  const r = seeded(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, () => offset + r()), shape };
}

const ch = (c: number, f: (i: number) => number): TensorData => ({ data: Float32Array.from({ length: c }, (_, i) => f(i)), shape: [c] });

/** The reference in double: batch statistics, y, and the training backward. */
function reference(x: TensorData, w: TensorData, b: TensorData, gy: TensorData, eps: number) {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const HW = H * W, M = N * HW;
  const at = (n: number, c: number, i: number) => (n * C + c) * HW + i;
  const mean = new Float64Array(C), invstd = new Float64Array(C), varU = new Float64Array(C);
  const y = new Float64Array(x.data.length), gx = new Float64Array(x.data.length);
  const gw = new Float64Array(C), gb = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) s += x.data[at(n, c, i)]!;
    const m = s / M;
    let v = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) v += (x.data[at(n, c, i)]! - m) ** 2;
    mean[c] = m;
    invstd[c] = 1 / Math.sqrt(v / M + eps);
    varU[c] = v / (M - 1);
    let sg = 0, sgx = 0;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < HW; i++) {
        const k = at(n, c, i), xh = (x.data[k]! - m) * invstd[c]!;
        y[k] = xh * w.data[c]! + b.data[c]!;
        sg += gy.data[k]!;
        sgx += gy.data[k]! * xh;
      }
    gw[c] = sgx;
    gb[c] = sg;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < HW; i++) {
        const k = at(n, c, i), xh = (x.data[k]! - m) * invstd[c]!;
        gx[k] = w.data[c]! * invstd[c]! * (gy.data[k]! - sg / M - xh * (sgx / M));
      }
  }
  return { mean, invstd, varU, y, gx, gw, gb };
}

function close(label: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number): void {
  assert.equal(got.length, want.length, `${label}: length`);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(got[i]! - want[i]!) <= rtol * scale + 1e-30, `${label}[${i}]: ${got[i]} vs ${want[i]} (scale ${scale})`);
}

describe('batch norm against a double-precision reference', () => {
  const device = backendsFor(['batch_norm_forward_train', 'batch_norm_backward']).run.filter((b) => b !== 'cpu');
  for (const backend of [...cpuIsaBackends(), ...device]) {
    describe(backend, () => {
      for (const c of CASES) {
        it(`${c.name}: training forward, running statistics, backward; inference forward and backward`, () => {
          const C = c.shape[1];
          const x = data(c.shape, 11, c.offset);
          const gy = data(c.shape, 12, 0);
          const w = ch(C, (i) => 0.5 + 0.25 * i), b = ch(C, (i) => 0.1 * i - 0.2);
          const eps = 1e-5, momentum = 0.1;
          const rm = ch(C, (i) => 0.01 * i), rv = ch(C, () => 1);
          const ref = reference(x, w, b, gy, eps);
          const r = ops.batchNormForwardTrain({ x, weight: w, bias: b, runningMean: rm, runningVar: rv, eps, momentum }, { backend });
          close('y', r.y.data, ref.y, c.rtol);
          close('saveMean', r.saveMean.data, ref.mean, 1e-6);
          close('saveInvstd', r.saveInvstd.data, ref.invstd, 2e-6);
          close('runningMean', r.runningMean.data, Array.from(ref.mean, (m, i) => 0.9 * rm.data[i]! + 0.1 * m), 1e-6);
          close('runningVar', r.runningVar.data, Array.from(ref.varU, (v, i) => 0.9 * rv.data[i]! + 0.1 * v), 2e-6);
          const g = ops.batchNormBackward({ x, weight: w, saveMean: r.saveMean, saveInvstd: r.saveInvstd, gradY: gy, training: true }, { backend });
          close('gradX', g.gradX.data, ref.gx, c.rtol);
          close('gradWeight', g.gradWeight.data, ref.gw, c.rtol);
          close('gradBias', g.gradBias.data, ref.gb, 1e-5);

          // Inference: the running statistics are constants.
          const ev = ops.batchNormForwardEval({ x, weight: w, bias: b, runningMean: r.runningMean, runningVar: r.runningVar, eps }, { backend });
          const evInv = Array.from(r.runningVar.data, (v) => 1 / Math.sqrt(v + eps));
          const HW = c.shape[2] * c.shape[3];
          const chan = (k: number) => Math.floor(k / HW) % C;
          close('eval y', ev.y.data, Array.from(x.data, (v, k) => (v - r.runningMean.data[chan(k)]!) * evInv[chan(k)]! * w.data[chan(k)]! + b.data[chan(k)]!), c.rtol);
          const ge = ops.batchNormBackward({ x, weight: w, saveMean: r.runningMean, saveInvstd: { data: Float32Array.from(evInv), shape: [C] }, gradY: gy, training: false }, { backend });
          close('eval gradX', ge.gradX.data, Array.from(gy.data, (v, k) => v * w.data[chan(k)]! * evInv[chan(k)]!), 1e-6);
        });
      }
    });
  }
});

// BN + ReLU in one pass (`relu`) must be BN, then the ReLU, bit for bit: the
// forward's output, and the backward's gradients, whose ReLU mask it recomputes
// from x and the statistics instead of reading the forward's output.
describe('batch norm with the ReLU in its pass against batch norm, then relu', () => {
  const device = backendsFor(['batch_norm_forward_train', 'batch_norm_backward', 'relu_forward', 'relu_backward']).run.filter((b) => b !== 'cpu');
  const same = (label: string, got: TensorData, want: TensorData) => {
    const bad = got.data.findIndex((v, i) => !Object.is(v, want.data[i]));
    assert.equal(bad, -1, `${label}[${bad}]: ${got.data[bad]} vs ${want.data[bad]}`);
  };
  for (const backend of [...cpuIsaBackends(), ...device]) {
    describe(backend, () => {
      for (const c of CASES) {
        it(`${c.name}: training and inference, forward and backward`, () => {
          const C = c.shape[1];
          // Centred on the running mean, so about half the outputs are negative in both modes.
          const x = data(c.shape, 21, c.offset);
          const gy = data(c.shape, 22, 0);
          const w = ch(C, (i) => 0.5 + 0.25 * i), b = ch(C, (i) => 0.1 * i - 0.2);
          const stats = { runningMean: ch(C, () => c.offset), runningVar: ch(C, () => 0.1), eps: 1e-5 };
          for (const training of [true, false]) {
            const args = { x, weight: w, bias: b, ...stats };
            const forward = (relu: boolean) => {
              if (!training) return { ...ops.batchNormForwardEval({ ...args, relu }, { backend }), saveMean: stats.runningMean, saveInvstd: ch(C, (i) => 1 / Math.sqrt(stats.runningVar.data[i]! + stats.eps)) };
              return ops.batchNormForwardTrain({ ...args, relu }, { backend });
            };
            const plain = forward(false), fused = forward(true);
            const y = ops.reluForward({ x: plain.y }, { backend }).y;
            same(`${training ? 'train' : 'eval'} y`, fused.y, y);
            const zeros = y.data.filter((v) => v === 0).length;
            assert.ok(zeros > y.data.length / 5 && zeros < (y.data.length * 4) / 5, `${zeros} of ${y.data.length} outputs are 0`);
            const saved = { saveMean: plain.saveMean, saveInvstd: plain.saveInvstd };
            const g = ops.batchNormBackward({ x, weight: w, ...saved, gradY: ops.reluBackward({ y, gradY: gy }, { backend }).gradX, training }, { backend });
            const gf = ops.batchNormBackward({ x, weight: w, bias: b, ...saved, gradY: gy, training, relu: true }, { backend });
            for (const k of ['gradX', 'gradWeight', 'gradBias'] as const) same(`${training ? 'train' : 'eval'} ${k}`, gf[k], g[k]);
          }
        });
      }
    });
  }
  it('the backward with relu asks for the forward\'s bias', () => {
    const x = data([2, 3, 4, 4], 1, 0);
    const c3 = ch(3, () => 1);
    assert.throws(() => ops.batchNormBackward({ x, weight: c3, saveMean: c3, saveInvstd: c3, gradY: x, relu: true }), /argument 'bias'/);
  });
});
