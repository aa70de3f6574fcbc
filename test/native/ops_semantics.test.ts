// The ops' exact semantics against plain JS references, on sizes that reach
// the threaded and vectorised paths and their tails: ties (which argmax gets
// the gradient), NaN propagation, extreme inputs, zero-sized tensors, views
// into larger buffers, and async results equal to sync ones.
import * as assert from 'assert';
import { native } from '../../lib/native';
import * as ops from '../../lib/ops';
import type { TensorData } from '../../lib/ops';
import { Rng } from '../../bench/rng';
import { assertClose } from '../helpers/assert_close';

const EXACT = { rtol: 0, atol: 0 };

/** Every backend here plus the CPU's other SIMD builds: each has its own kernel code to check. */
function backendsToCheck(): string[] {
  const info = native().info();
  const isas = ['portable', 'avx2', 'avx512'];
  const variants = isas.slice(0, isas.indexOf(info.bestIsa) + 1).filter((i) => i !== info.isa).map((i) => `cpu:${i}`);
  return [...ops.availableBackends(), ...variants];
}
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Small integers (many ties), optionally sprinkled with NaN and -Infinity. */
function tieHeavy(shape: number[], rng: Rng, specials = false): TensorData {
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; ++i) {
    d[i] = rng.int(4);
    if (specials) {
      const u = rng.next();
      if (u < 0.01) d[i] = NaN;
      else if (u < 0.02) d[i] = -Infinity;
    }
  }
  return { data: d, shape };
}

/** Multiples of 1/8: every sum of a few of them is exact in float32, whatever the order. */
function eighths(shape: number[], rng: Rng): TensorData {
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; ++i) d[i] = (rng.int(33) - 16) / 8;
  return { data: d, shape };
}

// ---- references ----------------------------------------------------------------

/** Visits each line the pool scans: `at(t)` is the flat index of the t-th element from the far edge. */
function cornerLines(shape: number[], mode: ops.CornerPoolMode, visit: (len: number, at: (t: number) => number) => void) {
  const [N, C, H, W] = shape as [number, number, number, number];
  for (let p = 0; p < N * C; ++p) {
    const base = p * H * W;
    if (mode === 'top' || mode === 'bottom') {
      for (let j = 0; j < W; ++j) visit(H, (t) => base + (mode === 'top' ? H - 1 - t : t) * W + j);
    } else {
      for (let i = 0; i < H; ++i) visit(W, (t) => base + i * W + (mode === 'left' ? W - 1 - t : t));
    }
  }
}

function refCornerPool(x: TensorData, mode: ops.CornerPoolMode, gy: TensorData): { y: TensorData; gradX: TensorData } {
  const y = new Float32Array(x.data.length), gx = new Float32Array(x.data.length);
  cornerLines(x.shape, mode, (len, at) => {
    // For output t the window is elements 0..t from the far edge; its argmax,
    // ties to the nearest (the latest met), NaN winning, is tracked on the way.
    let m = -Infinity, arg = at(0), nanSeen = false;
    for (let t = 0; t < len; ++t) {
      const v = x.data[at(t)]!;
      if (Number.isNaN(v)) {
        nanSeen = true;
        arg = at(t);
      } else if (!nanSeen && v >= m) {
        m = v;
        arg = at(t);
      }
      y[at(t)] = nanSeen ? NaN : m;
      gx[arg] += gy.data[at(t)]!;
    }
  });
  return { y: { data: y, shape: x.shape }, gradX: { data: gx, shape: x.shape } };
}

function refMaxPool3x3(x: TensorData, gy: TensorData): { y: TensorData; gradX: TensorData } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const y = new Float32Array(x.data.length), gx = new Float32Array(x.data.length);
  for (let p = 0; p < N * C; ++p)
    for (let i = 0; i < H; ++i)
      for (let j = 0; j < W; ++j) {
        // PyTorch's rule: scan the window row-major, take a value if it is greater or NaN.
        let m = -Infinity, arg = -1;
        for (let a = Math.max(0, i - 1); a <= Math.min(H - 1, i + 1); ++a)
          for (let c = Math.max(0, j - 1); c <= Math.min(W - 1, j + 1); ++c) {
            const k = p * H * W + a * W + c;
            const v = x.data[k]!;
            if (arg < 0) arg = k;
            if (v > m || Number.isNaN(v)) {
              m = v;
              arg = k;
            }
          }
        const o = p * H * W + i * W + j;
        y[o] = m;
        gx[arg] += gy.data[o]!;
      }
  return { y: { data: y, shape: x.shape }, gradX: { data: gx, shape: x.shape } };
}

// Planes x rows x columns chosen to hit: groups of 2L and L rows (L = 4 or 8
// lanes) plus leftovers, full LxL tiles plus tail columns, several threads'
// chunks, a single plane split into column blocks (1x1x19x300), single rows
// and columns.
const SHAPES = [[2, 3, 37, 43], [1, 1, 19, 300], [3, 1, 8, 4], [1, 2, 3, 1], [1, 1, 1, 5], [1, 4, 130, 7], [1, 2, 33, 16], [2, 1, 17, 9]];

describe('ops semantics', () => {
  for (const backend of backendsToCheck()) {
    describe(`corner pools against a scalar reference on ${backend}`, () => {
      for (const mode of ['top', 'bottom', 'left', 'right'] as const) {
        for (const specials of [false, true]) {
          it(`${mode}: ties to the nearest position${specials ? ', NaN and -Infinity' : ''}`, () => {
            const rng = new Rng(11);
            for (const shape of SHAPES) {
              const x = tieHeavy(shape, rng, specials);
              const gradY = eighths(shape, rng);
              const ref = refCornerPool(x, mode, gradY);
              const label = `${mode} [${shape.join(',')}] on ${backend}`;
              assertClose(`${label} y`, ops.cornerPoolForward({ x, mode }, { backend }).y, ref.y, EXACT);
              assertClose(`${label} gradX`, ops.cornerPoolBackward({ x, mode, gradY }, { backend }).gradX, ref.gradX, EXACT);
            }
          });
        }
      }
    });

    // A backend runs only the ops it has kernels for (cuda-emu: corner pools).
    if (!native().backendInfo(backend).supports.includes('maxpool3x3_forward')) continue;
    describe(`3x3 max pool against a scalar reference on ${backend}`, () => {
      for (const specials of [false, true]) {
        it(`first maximum in row-major order gets the gradient${specials ? ', NaN wins' : ''}`, () => {
          const rng = new Rng(12);
          for (const shape of SHAPES) {
            const x = tieHeavy(shape, rng, specials);
            const gradY = eighths(shape, rng);
            const ref = refMaxPool3x3(x, gradY);
            const label = `maxpool [${shape.join(',')}] on ${backend}`;
            assertClose(`${label} y`, ops.maxPool3x3Forward({ x }, { backend }).y, ref.y, EXACT);
            assertClose(`${label} gradX`, ops.maxPool3x3Backward({ x, gradY }, { backend }).gradX, ref.gradX, EXACT);
          }
        });
      }
    });
  }

  it('relu lets NaN through and zeroes negatives; its gradient flows where y > 0', () => {
    const x = { data: new Float32Array([-2, -0, 0, 3, NaN, -Infinity, Infinity]), shape: [7] };
    const { y } = ops.reluForward({ x });
    assert.deepStrictEqual(Array.from(y.data), [0, 0, 0, 3, NaN, 0, Infinity]);
    const gradY = { data: new Float32Array([1, 2, 3, 4, 5, 6, 7]), shape: [7] };
    assert.deepStrictEqual(Array.from(ops.reluBackward({ y, gradY }).gradX.data), [0, 0, 0, 4, 0, 0, 7]);
  });

  it('sigmoid keeps its relative precision far into both tails', () => {
    const xs: number[] = [];
    for (let v = -87; v <= 87; v += 0.37) xs.push(v);
    xs.push(-1e4, 1e4, -Infinity, Infinity);
    const x = { data: Float32Array.from(xs), shape: [xs.length] };
    const { y } = ops.sigmoidForward({ x });
    for (let i = 0; i < xs.length; ++i) {
      const v = x.data[i]!;
      const want = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
      const got = y.data[i]!;
      // Below ~1.2e-38 float32 is subnormal: judge those absolutely.
      assert.ok(Math.abs(got - want) <= 1e-6 * want + 1e-44, `sigmoid(${v}) = ${got}, want ${want}`);
    }
    assert.ok(Number.isNaN(ops.sigmoidForward({ x: { data: new Float32Array([NaN]), shape: [1] } }).y.data[0]!));
  });

  it('batch norm in inference mode matches (x - mean) / sqrt(var + eps) * w + b', () => {
    const rng = new Rng(13);
    const shape = [2, 3, 5, 4];
    const x = { data: Float32Array.from({ length: numel(shape) }, () => rng.normal()), shape };
    const ch = (vals: number[]) => ({ data: Float32Array.from(vals), shape: [3] });
    const args = { x, weight: ch([1, 0.5, -2]), bias: ch([0, 1, -1]), runningMean: ch([0.1, -0.2, 0.3]), runningVar: ch([1, 4, 0.25]), eps: 1e-3 };
    const { y } = ops.batchNormForwardEval(args);
    const want = new Float32Array(x.data.length);
    for (let i = 0; i < want.length; ++i) {
      const c = Math.floor(i / 20) % 3;
      want[i] = ((x.data[i]! - args.runningMean.data[c]!) / Math.sqrt(args.runningVar.data[c]! + 1e-3)) * args.weight.data[c]! + args.bias.data[c]!;
    }
    assertClose('bn eval y', y, { data: want, shape }, { rtol: 1e-6, atol: 1e-6 });
  });

  it('batch norm training keeps a constant channel at exactly its bias', () => {
    const shape = [2, 2, 3, 3];
    const x = { data: new Float32Array(36), shape };
    for (let i = 0; i < 36; ++i) x.data[i] = Math.floor(i / 9) % 2 === 0 ? 123.25 : i * 0.1;
    const ch = (a: number, b: number) => ({ data: Float32Array.from([a, b]), shape: [2] });
    const r = ops.batchNormForwardTrain({ x, weight: ch(2, 2), bias: ch(0.5, 0.5), runningMean: ch(0, 0), runningVar: ch(1, 1) });
    for (let i = 0; i < 36; ++i) if (Math.floor(i / 9) % 2 === 0) assert.strictEqual(r.y.data[i], 0.5);
    assert.strictEqual(r.runningVar.data[0], Math.fround(0.9));
  });

  it('reads inputs that are views into a larger buffer', () => {
    const rng = new Rng(14);
    const shape = [1, 2, 9, 13];
    const n = numel(shape);
    const big = Float32Array.from({ length: n + 7 }, () => rng.normal());
    const view = { data: big.subarray(5, 5 + n), shape };
    const copy = { data: Float32Array.from(view.data), shape };
    for (const mode of ['top', 'left'] as const)
      assertClose(`view ${mode}`, ops.cornerPoolForward({ x: view, mode }).y, ops.cornerPoolForward({ x: copy, mode }).y, EXACT);
  });

  it('accepts zero-sized tensors', () => {
    for (const shape of [[0, 3, 4, 4], [1, 2, 0, 5], [1, 2, 5, 0]]) {
      const x = { data: new Float32Array(0), shape };
      for (const mode of ['top', 'bottom', 'left', 'right'] as const) {
        assert.deepStrictEqual(ops.cornerPoolForward({ x, mode }).y.shape, shape);
        assert.strictEqual(ops.cornerPoolBackward({ x, mode, gradY: x }).gradX.data.length, 0);
      }
      assert.strictEqual(ops.maxPool3x3Forward({ x }).y.data.length, 0);
      assert.strictEqual(ops.upsample2xForward({ x }).y.data.length, 0);
      assert.strictEqual(ops.reluForward({ x }).y.data.length, 0);
    }
  });

  it('async forms give the sync results', async () => {
    const rng = new Rng(15);
    const shape = [2, 3, 17, 19];
    const x = tieHeavy(shape, rng);
    const gradY = eighths(shape, rng);
    const o = native().ops as Record<string, (a: object) => unknown>;
    const pairs: [string, object][] = [
      ['cornerPoolForward', { x, mode: 'left' }],
      ['cornerPoolBackward', { x, mode: 'top', gradY }],
      ['maxPool3x3Forward', { x }],
      ['upsample2xForward', { x }],
      ['sigmoidForward', { x }],
      ['copy', { x }],
      ['batchNormForwardTrain', { x, weight: { data: new Float32Array(3).fill(1), shape: [3] }, bias: { data: new Float32Array(3), shape: [3] }, runningMean: { data: new Float32Array(3), shape: [3] }, runningVar: { data: new Float32Array(3).fill(1), shape: [3] } }],
    ];
    for (const [name, args] of pairs) {
      const sync = o[name]!(args) as Record<string, TensorData>;
      const async = (await o[`${name}Async`]!(args)) as Record<string, TensorData>;
      assert.deepStrictEqual(Object.keys(async).sort(), Object.keys(sync).sort(), name);
      for (const k of Object.keys(sync)) assertClose(`${name}Async ${k}`, async[k]!, sync[k]!, EXACT);
    }
  });

  it('copy returns the same values in a new array', () => {
    const x = { data: Float32Array.from([1, NaN, -0, 3.5]), shape: [2, 2] };
    const { y } = ops.copy({ x });
    assert.notStrictEqual(y.data.buffer, x.data.buffer);
    assert.deepStrictEqual(Array.from(y.data), Array.from(x.data));
    assert.deepStrictEqual(y.shape, [2, 2]);
  });

  it('timeKernel times an op kernel after checking its arguments as the op does', () => {
    const x = { data: new Float32Array(64), shape: [1, 1, 8, 8] };
    const ms = ops.timeKernel('cornerPoolForward', { x, mode: 'top' }, { reps: 3 });
    assert.strictEqual(ms.length, 3);
    for (const t of ms) assert.ok(t >= 0 && Number.isFinite(t));
    assert.throws(() => ops.timeKernel('cornerPoolForward', { x, mode: 'up' }), /argument 'mode'/);
    assert.throws(() => ops.timeKernel('noSuchOp', { x }), /argument 'op'.*noSuchOp/);
  });
});
