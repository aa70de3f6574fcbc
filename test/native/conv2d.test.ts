// conv2dForward / conv2dBackward on every CPU SIMD path (and on the device
// backends, cuda-emu included, at the end): against a naive
// double-precision convolution and its adjoint, against finite differences of
// sum(y * gradY), against the PyTorch fixtures, and argument checking.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  conv2dBackward,
  conv2dBackwardAsync,
  conv2dForward,
  conv2dForwardAsync,
  tensor,
  type TensorData,
} from '../../lib/ops';
import { cpuIsaBackends } from './cpu_isas';
import { backendsFor } from '../helpers/backends';
import { randomTensor, seeded } from '../helpers/random_tensor';

interface Case {
  name: string;
  x: number[]; // N, C, H, W
  w: number[]; // O, C, kh, kw
  stride: [number, number];
  padding: [number, number];
  bias: boolean;
}

const cases: Case[] = [
  { name: '3x3 s1 p1', x: [2, 3, 7, 6], w: [4, 3, 3, 3], stride: [1, 1], padding: [1, 1], bias: true },
  { name: '3x3 s2 p1', x: [1, 5, 9, 8], w: [3, 5, 3, 3], stride: [2, 2], padding: [1, 1], bias: true },
  { name: '1x1 s1 p0 (no im2col)', x: [2, 6, 5, 4], w: [7, 6, 1, 1], stride: [1, 1], padding: [0, 0], bias: true },
  { name: '1x1 s2 p0', x: [1, 4, 7, 7], w: [5, 4, 1, 1], stride: [2, 2], padding: [0, 0], bias: false },
  { name: '7x7 s2 p3', x: [1, 3, 16, 13], w: [4, 3, 7, 7], stride: [2, 2], padding: [3, 3], bias: true },
  { name: '3x5 stride [2,1] padding [0,2]', x: [2, 2, 8, 6], w: [3, 2, 3, 5], stride: [2, 1], padding: [0, 2], bias: false },
  { name: '2x2 s3 (stride > kernel)', x: [1, 3, 10, 11], w: [2, 3, 2, 2], stride: [3, 3], padding: [0, 0], bias: true },
  { name: 'kernel = padded input', x: [1, 2, 3, 2], w: [3, 2, 5, 4], stride: [1, 1], padding: [1, 1], bias: true },
  // 3x3 stride 1 with >= 16 channels in and out and >= 16 output tiles of 4x4:
  // Winograd F(4x4, 3x3), whose tiles overhang these odd sizes; gradX goes
  // through it too (padding 2 - p) when the input has >= 16 tiles.
  { name: 'Winograd 3x3 s1 p1', x: [2, 16, 17, 15], w: [20, 16, 3, 3], stride: [1, 1], padding: [1, 1], bias: true },
  { name: 'Winograd 3x3 s1 p0', x: [1, 24, 19, 18], w: [16, 24, 3, 3], stride: [1, 1], padding: [0, 0], bias: false },
  { name: 'Winograd 3x3 s1 p2', x: [1, 16, 14, 13], w: [17, 16, 3, 3], stride: [1, 1], padding: [2, 2], bias: true },
  { name: 'Winograd 3x3 s1 padding [1,0]', x: [1, 16, 16, 18], w: [16, 16, 3, 3], stride: [1, 1], padding: [1, 0], bias: true },
  // Rows of 28 tiles (vectors of 16, 8 and 4 tiles) and of 15 (8, 4 and a tail of 3): each lane width of the transforms.
  { name: 'Winograd 3x3 s1 p1, rows of 28 tiles', x: [1, 16, 6, 110], w: [16, 16, 3, 3], stride: [1, 1], padding: [1, 1], bias: true },
  { name: 'Winograd 3x3 s1 p1, rows of 15 tiles', x: [2, 16, 5, 58], w: [18, 16, 3, 3], stride: [1, 1], padding: [1, 1], bias: true },
  { name: '3x3 s1 with too few tiles for Winograd (im2col)', x: [1, 16, 9, 9], w: [16, 16, 3, 3], stride: [1, 1], padding: [1, 1], bias: true },
  { name: 'padding wider than the kernel', x: [1, 2, 3, 3], w: [2, 2, 2, 2], stride: [1, 2], padding: [3, 2], bias: true },
  // The stride-1 weight gradient runs all kernel taps as one GEMM over shifted
  // views of a padded copy of the batch (conv2d_shifted.h): channel counts that
  // are whole micro-panels (32, 64) and ones whose panels straddle two taps.
  { name: 'shifted weight gradient, 32 channels, 3 images', x: [3, 32, 6, 5], w: [4, 32, 3, 3], stride: [1, 1], padding: [1, 1], bias: false },
  { name: 'shifted weight gradient, 64 channels, 5x3 padding [2,0]', x: [2, 64, 7, 9], w: [3, 64, 5, 3], stride: [1, 1], padding: [2, 0], bias: true },
  { name: 'shifted weight gradient, 40 channels, padding past the kernel', x: [2, 40, 4, 5], w: [5, 40, 2, 3], stride: [1, 1], padding: [3, 1], bias: true },
];

const outSize = (i: number, k: number, s: number, p: number) => Math.floor((i + 2 * p - k) / s) + 1;

/**
 * Naive convolution in double, and its adjoint for gradY: visits every
 * (output, tap) pair once, which is the definition the fast paths must match.
 */
function reference(x: TensorData, w: TensorData, b: TensorData | null, gy: TensorData | null, s: [number, number], p: [number, number]) {
  const [N, C, H, W] = x.shape;
  const [O, , KH, KW] = w.shape;
  const HO = outSize(H, KH, s[0], p[0]);
  const WO = outSize(W, KW, s[1], p[1]);
  const y = new Float64Array(N * O * HO * WO);
  const gx = new Float64Array(x.data.length);
  const gw = new Float64Array(w.data.length);
  const gb = new Float64Array(O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < HO; i++)
        for (let j = 0; j < WO; j++) {
          const yi = ((n * O + o) * HO + i) * WO + j;
          const g = gy ? gy.data[yi] : 0;
          let acc = b ? b.data[o] : 0;
          gb[o] += g;
          for (let c = 0; c < C; c++)
            for (let ki = 0; ki < KH; ki++) {
              const ih = i * s[0] - p[0] + ki;
              if (ih < 0 || ih >= H) continue;
              for (let kj = 0; kj < KW; kj++) {
                const iw = j * s[1] - p[1] + kj;
                if (iw < 0 || iw >= W) continue;
                const xi = ((n * C + c) * H + ih) * W + iw;
                const wi = ((o * C + c) * KH + ki) * KW + kj;
                acc += x.data[xi] * w.data[wi];
                gx[xi] += g * w.data[wi];
                gw[wi] += g * x.data[xi];
              }
            }
          y[yi] = acc;
        }
  return { y, gx, gw, gb, shape: [N, O, HO, WO] };
}

function assertClose(got: Float32Array, want: ArrayLike<number>, tol: number, label: string): void {
  assert.equal(got.length, want.length, `${label}: length`);
  let scale = 1e-3;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * scale)) assert.fail(`${label}[${i}] = ${got[i]}, expected ${want[i]} (err ${err}, scale ${scale})`);
  }
}

function setup(c: Case, seed: number) {
  const x = randomTensor(c.x, seed);
  const w = randomTensor(c.w, seed + 1);
  const b = c.bias ? randomTensor([c.w[0]], seed + 2) : null;
  const ho = outSize(c.x[2], c.w[2], c.stride[0], c.padding[0]);
  const wo = outSize(c.x[3], c.w[3], c.stride[1], c.padding[1]);
  const gy = randomTensor([c.x[0], c.w[0], ho, wo], seed + 3);
  return { x, w, b, gy };
}

/** sum(y * gy) in double, from the op's own forward. */
function objective(x: TensorData, w: TensorData, b: TensorData | null, gy: TensorData, c: Case, backend: string): number {
  const { y } = conv2dForward({ x, weight: w, bias: b, stride: c.stride, padding: c.padding }, { backend });
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += y.data[i] * gy.data[i];
  return s;
}


// Forward and backward of case `c` on `backend` against the naive reference: shapes and values.
function checkAgainstReference(c: Case, seed: number, backend: string): void {
  const { x, w, b, gy } = setup(c, seed);
  const ref = reference(x, w, b, gy, c.stride, c.padding);
  const { y } = conv2dForward({ x, weight: w, bias: b, stride: c.stride, padding: c.padding }, { backend });
  assert.deepEqual(y.shape, ref.shape);
  assertClose(y.data, ref.y, 1e-5, 'y');
  const g = conv2dBackward({ x, weight: w, gradY: gy, stride: c.stride, padding: c.padding }, { backend });
  assert.deepEqual(g.gradX.shape, c.x);
  assert.deepEqual(g.gradWeight.shape, c.w);
  assert.deepEqual(g.gradBias.shape, [c.w[0]]);
  assertClose(g.gradX.data, ref.gx, 1e-5, 'gradX');
  assertClose(g.gradWeight.data, ref.gw, 1e-5, 'gradWeight');
  assertClose(g.gradBias.data, ref.gb, 1e-5, 'gradBias');
}

describe('native/cpu conv2d', () => {
  for (const backend of cpuIsaBackends()) {
    describe(backend, () => {
      for (const c of cases) {
        it(`${c.name}: forward and backward match the naive reference`, () => {
          checkAgainstReference(c, 7, backend);
        });

        it(`${c.name}: gradients agree with finite differences`, () => {
          const { x, w, b, gy } = setup(c, 21);
          const g = conv2dBackward({ x, weight: w, gradY: gy, stride: c.stride, padding: c.padding }, { backend });
          // The objective is linear in each of x, w, b, so a wide step has no
          // truncation error and keeps float32 rounding small next to it.
          const h = 0.5;
          const probe = (t: TensorData, grad: TensorData, label: string) => {
            const r = seeded(5);
            for (let trial = 0; trial < 6; trial++) {
              const i = Math.floor((r() + 0.5) * t.data.length);
              const keep = t.data[i];
              t.data[i] = keep + h;
              const up = objective(x, w, b, gy, c, backend);
              t.data[i] = keep - h;
              const down = objective(x, w, b, gy, c, backend);
              t.data[i] = keep;
              const fd = (up - down) / (2 * h);
              assert.ok(Math.abs(fd - grad.data[i]) <= 1e-4 * Math.max(1, Math.abs(fd)), `${label}[${i}]: analytic ${grad.data[i]}, finite difference ${fd}`);
            }
          };
          probe(x, g.gradX, 'gradX');
          probe(w, g.gradWeight, 'gradWeight');
          if (b) probe(b, g.gradBias, 'gradBias');
        });
      }

      it('a layer large enough to need several im2col chunks, batch of 2', () => {
        // 64 channels x 3x3 = 576 rows of im2col; 2 x 48x48 positions exceed one chunk.
        const c: Case = { name: 'big', x: [2, 64, 48, 48], w: [5, 64, 3, 3], stride: [1, 1], padding: [1, 1], bias: true };
        checkAgainstReference(c, 3, backend);
      });
    });
  }

  it('a wide layer (128 -> 128 channels, Winograd) stays within float32 accuracy of the reference', () => {
    // Long reductions are where Winograd's transforms could lose precision; sample outputs.
    const [N, C, H, W, O] = [2, 128, 19, 22, 128];
    const x = randomTensor([N, C, H, W], 41);
    const w = tensor(randomTensor([O, C, 3, 3], 42).data.map((v) => v * 0.1), [O, C, 3, 3]);
    const gy = randomTensor([N, O, H, W], 43);
    const { y } = conv2dForward({ x, weight: w, padding: 1 });
    const g = conv2dBackward({ x, weight: w, gradY: gy, padding: 1 });
    const X = (n: number, c: number, i: number, j: number) => (i < 0 || j < 0 || i >= H || j >= W ? 0 : x.data[((n * C + c) * H + i) * W + j]);
    const GY = (n: number, o: number, i: number, j: number) => (i < 0 || j < 0 || i >= H || j >= W ? 0 : gy.data[((n * O + o) * H + i) * W + j]);
    const r = seeded(44);
    const pick = (k: number) => Math.floor((r() + 0.5) * k);
    const check = (got: number, want: number, scale: number, label: string) =>
      assert.ok(Math.abs(got - want) <= 2e-5 * scale, `${label}: ${got} vs ${want} (scale ${scale})`);
    let ys = 0;
    let xs = 0;
    for (let i = 0; i < y.data.length; i++) ys = Math.max(ys, Math.abs(y.data[i]));
    for (let i = 0; i < g.gradX.data.length; i++) xs = Math.max(xs, Math.abs(g.gradX.data[i]));
    for (let t = 0; t < 100; t++) {
      const [n, o, i, j] = [pick(N), pick(O), pick(H), pick(W)];
      let want = 0;
      for (let c = 0; c < C; c++)
        for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) want += X(n, c, i - 1 + a, j - 1 + b) * w.data[((o * C + c) * 3 + a) * 3 + b];
      check(y.data[((n * O + o) * H + i) * W + j], want, ys, `y[${n},${o},${i},${j}]`);
      const c = pick(C);
      let wantX = 0;
      for (let oo = 0; oo < O; oo++)
        for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) wantX += GY(n, oo, i + 1 - a, j + 1 - b) * w.data[((oo * C + c) * 3 + a) * 3 + b];
      check(g.gradX.data[((n * C + c) * H + i) * W + j], wantX, xs, `gradX[${n},${c},${i},${j}]`);
    }
    let ws = 0;
    for (let i = 0; i < g.gradWeight.data.length; i++) ws = Math.max(ws, Math.abs(g.gradWeight.data[i]));
    for (let t = 0; t < 40; t++) {
      const [o, c, a, b] = [pick(O), pick(C), pick(3), pick(3)];
      let want = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) want += GY(n, o, i, j) * X(n, c, i - 1 + a, j - 1 + b);
      check(g.gradWeight.data[((o * C + c) * 3 + a) * 3 + b], want, ws, `gradWeight[${o},${c},${a},${b}]`);
    }
  });

  it('an image taller than one band of Winograd tiles: gradients match the reference on every row', () => {
    // conv2d_winograd.cc works in bands of about 4M floats of transformed tiles: 36 x 64 channels x 64 tiles
    // a tile row gives bands of 28 tile rows, so these 31 take two, and the input gradient's rows where the
    // bands' 6x6 tiles overlap (image rows 111 and 112) are summed from both.
    const [N, C, H, W, O] = [1, 64, 122, 256, 64];
    const x = randomTensor([N, C, H, W], 51);
    const w = tensor(randomTensor([O, C, 3, 3], 52).data.map((v) => v * 0.1), [O, C, 3, 3]);
    const gy = randomTensor([N, O, H, W], 53);
    const g = conv2dBackward({ x, weight: w, gradY: gy, padding: 1 });
    const X = (c: number, i: number, j: number) => (i < 0 || j < 0 || i >= H || j >= W ? 0 : x.data[(c * H + i) * W + j]);
    const GY = (o: number, i: number, j: number) => (i < 0 || j < 0 || i >= H || j >= W ? 0 : gy.data[(o * H + i) * W + j]);
    const maxAbs = (a: TensorData) => a.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const xs = maxAbs(g.gradX);
    for (const [c, j] of [[0, 0], [17, 130], [63, W - 1]]) {
      for (let i = 0; i < H; i++) {
        let want = 0;
        for (let o = 0; o < O; o++)
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) want += GY(o, i + 1 - a, j + 1 - b) * w.data[((o * C + c) * 3 + a) * 3 + b];
        const got = g.gradX.data[(c * H + i) * W + j];
        assert.ok(Math.abs(got - want) <= 2e-5 * xs, `gradX[0,${c},${i},${j}]: ${got} vs ${want} (scale ${xs})`);
      }
    }
    const ws = maxAbs(g.gradWeight);
    for (const [o, c, a, b] of [[0, 0, 0, 0], [5, 40, 1, 2], [63, 63, 2, 2], [30, 7, 2, 0]]) {
      let want = 0;
      for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) want += GY(o, i, j) * X(c, i - 1 + a, j - 1 + b);
      const got = g.gradWeight.data[((o * C + c) * 3 + a) * 3 + b];
      assert.ok(Math.abs(got - want) <= 2e-5 * ws, `gradWeight[${o},${c},${a},${b}]: ${got} vs ${want} (scale ${ws})`);
    }
  });

  it('has async forms with the same results', async () => {
    const c = cases[1];
    const { x, w, b, gy } = setup(c, 9);
    const args = { x, weight: w, bias: b, stride: c.stride, padding: c.padding };
    const sync = conv2dForward(args);
    const asy = await conv2dForwardAsync(args);
    assert.deepEqual(Array.from(asy.y.data), Array.from(sync.y.data));
    const gs = conv2dBackward({ ...args, gradY: gy });
    const ga = await conv2dBackwardAsync({ ...args, gradY: gy });
    assert.deepEqual(Array.from(ga.gradX.data), Array.from(gs.gradX.data));
    assert.deepEqual(Array.from(ga.gradWeight.data), Array.from(gs.gradWeight.data));
    assert.deepEqual(Array.from(ga.gradBias.data), Array.from(gs.gradBias.data));
  });

  describe('PyTorch fixtures', () => {
    const root = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'ops');
    const dirs = fs.readdirSync(root).filter((d) => d.startsWith('conv'));
    it('are present', () => assert.ok(dirs.length >= 4, `conv fixtures in ${root}`));
    for (const d of dirs) {
      it(d, () => {
        const m = JSON.parse(fs.readFileSync(path.join(root, d, 'manifest.json'), 'utf8')) as {
          params: { stride: number; padding: number };
          suggested_tolerance: { all: { rtol: number; atol: number } };
        };
        const load = (name: string) => readNpy(path.join(root, d, `${name}.npy`));
        const x = load('x');
        const weight = load('weight');
        const bias = load('bias');
        const gradY = load('grad_y');
        const args = { x, weight, bias, stride: m.params.stride, padding: m.params.padding };
        const { rtol, atol } = m.suggested_tolerance.all;
        const near = (got: TensorData, want: TensorData, label: string) => {
          assert.deepEqual(got.shape, want.shape, `${label} shape`);
          for (let i = 0; i < want.data.length; i++)
            assert.ok(Math.abs(got.data[i] - want.data[i]) <= atol + rtol * Math.abs(want.data[i]), `${d} ${label}[${i}]: ${got.data[i]} vs ${want.data[i]}`);
        };
        near(conv2dForward(args).y, load('y'), 'y');
        const g = conv2dBackward({ ...args, gradY });
        near(g.gradX, load('grad_x'), 'grad_x');
        near(g.gradWeight, load('grad_weight'), 'grad_weight');
        near(g.gradBias, load('grad_bias'), 'grad_bias');
      });
    }
  });

  describe('argument errors name the argument', () => {
    const x = randomTensor([1, 3, 5, 5], 1);
    const w = randomTensor([2, 3, 3, 3], 2);
    it('channel mismatch', () => {
      assert.throws(() => conv2dForward({ x, weight: randomTensor([2, 4, 3, 3], 3) }), /argument 'weight' has 4 input channels .* x has 3 channels/);
    });
    it('kernel larger than the padded input', () => {
      assert.throws(() => conv2dForward({ x, weight: randomTensor([2, 3, 6, 6], 3) }), /argument 'weight' has a 6x6 kernel, larger than the padded input 5x5/);
      assert.doesNotThrow(() => conv2dForward({ x, weight: randomTensor([2, 3, 6, 6], 3), padding: 1 }));
    });
    it('zero or negative stride, negative padding', async () => {
      assert.throws(() => conv2dForward({ x, weight: w, stride: 0 }), /argument 'stride' must be an integer in \[1,/);
      assert.throws(() => conv2dForward({ x, weight: w, stride: [1, -2] }), /argument 'stride' \[1\] must be an integer in \[1,/);
      assert.throws(() => conv2dForward({ x, weight: w, padding: -1 }), /argument 'padding'/);
      await assert.rejects(conv2dForwardAsync({ x, weight: w, stride: 0 }), /argument 'stride'/);
    });
    it('empty kernel, wrong ranks, bias length', () => {
      assert.throws(() => conv2dForward({ x, weight: tensor([], [2, 3, 0, 3]) }), /argument 'weight' must have a kernel of at least 1x1/);
      assert.throws(() => conv2dForward({ x: randomTensor([3, 5, 5], 1), weight: w }), /argument 'x' must have 4 dimensions/);
      assert.throws(() => conv2dForward({ x, weight: w, bias: randomTensor([3], 1) }), /argument 'bias' must have one value per output channel \(2\)/);
    });
    it('gradY of the wrong shape', async () => {
      assert.throws(() => conv2dBackward({ x, weight: w, gradY: randomTensor([1, 2, 5, 5], 4) }), /argument 'gradY' must have the output's shape \[1,2,3,3\]/);
      await assert.rejects(conv2dBackwardAsync({ x, weight: w, gradY: randomTensor([1, 2, 5, 5], 4) }), /argument 'gradY'/);
    });
  });
});

// The device backends' own kernels (native/cuda/conv2d.cu) against the same
// naive reference: every shape above, including strides and paddings the models
// never use, on cuda-emu in CI and on cuda:N where a GPU is present.
describe('native/cuda conv2d', () => {
  const devices = backendsFor(['conv2d_forward', 'conv2d_backward']).run.filter((b) => !b.startsWith('cpu'));
  if (devices.length === 0) it('no device backend with conv2d kernels here (cuda-emu appears once its plugin is built)');
  for (const backend of devices) {
    describe(backend, () => {
      const big: Case = { name: 'several tiles along every GEMM dimension, 3 images', x: [3, 70, 12, 13], w: [66, 70, 3, 3], stride: [1, 1], padding: [1, 1], bias: true };
      for (const c of [...cases, big]) {
        it(`${c.name}: forward and backward match the naive reference`, () => {
          checkAgainstReference(c, 7, backend);
        });
      }

      it('the backward is deterministic (no atomics; split reductions summed in a fixed order)', () => {
        const c: Case = { name: 'stem', x: [2, 3, 37, 41], w: [8, 3, 7, 7], stride: [2, 2], padding: [3, 3], bias: true };
        const { x, w, gy } = setup(c, 11);
        const args = { x, weight: w, gradY: gy, stride: c.stride, padding: c.padding };
        const a = conv2dBackward(args, { backend });
        const b = conv2dBackward(args, { backend });
        assert.deepEqual(Array.from(b.gradX.data), Array.from(a.gradX.data));
        assert.deepEqual(Array.from(b.gradWeight.data), Array.from(a.gradWeight.data));
        assert.deepEqual(Array.from(b.gradBias.data), Array.from(a.gradBias.data));
      });

      it('an empty batch gives an empty output and zero weight and bias gradients', () => {
        const x = tensor(new Float32Array(0), [0, 3, 5, 5]);
        const w = randomTensor([2, 3, 3, 3], 2);
        const { y } = conv2dForward({ x, weight: w, padding: 1 }, { backend });
        assert.deepEqual(y.shape, [0, 2, 5, 5]);
        const g = conv2dBackward({ x, weight: w, gradY: tensor(new Float32Array(0), [0, 2, 5, 5]), padding: 1 }, { backend });
        assert.deepEqual(Array.from(g.gradWeight.data), new Array(w.data.length).fill(0));
        assert.deepEqual(Array.from(g.gradBias.data), [0, 0]);
      });
    });
  }
});

/** Reads a little-endian float32, C-order .npy file (the fixtures' format, see their README). */
function readNpy(file: string): TensorData {
  const buf = fs.readFileSync(file);
  assert.equal(buf.toString('latin1', 1, 6), 'NUMPY', `${file}: not an .npy file`);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + headerLen);
  assert.match(header, /'descr': '<f4'/, `${file}: expected float32`);
  assert.match(header, /'fortran_order': False/, `${file}: expected C order`);
  const shapeText = /'shape': \(([^)]*)\)/.exec(header);
  assert.ok(shapeText, `${file}: no shape in header`);
  const shape = shapeText[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const start = 10 + headerLen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  return tensor(data, shape);
}
