// The CPU SGEMM against a double-precision naive product, on every SIMD path
// this CPU runs, every transpose combination, and sizes that leave partial
// micro-tiles and cross the cache-block boundaries (k > 256, m > 240, n > 1024).
import * as assert from 'node:assert/strict';

import { native } from '../../lib/native';
import { gemm, gemmAsync, tensor, type TensorData } from '../../lib/ops';
import { cpuIsaBackends } from './cpu_isas';
import { randomTensor } from '../helpers/random_tensor';

/** c[i, j] in double, with the sum of |terms| for a rounding-aware tolerance. */
function reference(a: TensorData, b: TensorData, ta: boolean, tb: boolean) {
  const m = ta ? a.shape[1] : a.shape[0];
  const k = ta ? a.shape[0] : a.shape[1];
  const n = tb ? b.shape[0] : b.shape[1];
  const c = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  const A = (i: number, p: number) => (ta ? a.data[p * m + i] : a.data[i * k + p]);
  const B = (p: number, j: number) => (tb ? b.data[j * k + p] : b.data[p * n + j]);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const av = A(i, p);
      for (let j = 0; j < n; j++) {
        const t = av * B(p, j);
        c[i * n + j] += t;
        mag[i * n + j] += Math.abs(t);
      }
    }
  return { c, mag, m, n, k };
}

function checkProduct(got: TensorData, ref: ReturnType<typeof reference>, label: string): void {
  assert.deepEqual(got.shape, [ref.m, ref.n], `${label}: shape`);
  // float32 accumulation: error grows like eps * sum|terms| (loosely, in k).
  const eps = 1.2e-7 * Math.max(8, Math.sqrt(ref.k) * 4);
  for (let i = 0; i < ref.c.length; i++) {
    const err = Math.abs(got.data[i] - ref.c[i]);
    if (!(err <= eps * ref.mag[i] + 1e-30))
      assert.fail(`${label}: c[${Math.floor(i / ref.n)}, ${i % ref.n}] = ${got.data[i]}, expected ${ref.c[i]} (err ${err})`);
  }
}

function operands(m: number, n: number, k: number, ta: boolean, tb: boolean, seed: number) {
  return { a: randomTensor(ta ? [k, m] : [m, k], seed), b: randomTensor(tb ? [n, k] : [k, n], seed + 1) };
}

describe('native/cpu gemm', () => {
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [7, 1, 1],
    [1, 7, 33],
    [7, 33, 65],
    [33, 65, 7],
    [65, 7, 33],
    [257, 33, 65],
    [12, 32, 256], // exactly one AVX-512 micro-tile, one KC block
    [65, 257, 300], // two KC blocks
    [250, 40, 20], // two MC blocks (MC = 240 on AVX-512)
    [13, 1100, 17], // two NC blocks
    [96, 64, 520], // B read in place (8 row panels, 3 KC blocks)
    [97, 70, 40], // 9 row panels: B packed again, with a partial panel
    // Every height of an overhanging row panel (1-11 rows of a 12-row micro-tile), 8 columns past a 32-column one.
    ...Array.from({ length: 11 }, (_, i): [number, number, number] => [13 + i, 40, 9]),
  ];

  for (const backend of cpuIsaBackends()) {
    describe(backend, () => {
      for (const ta of [false, true])
        for (const tb of [false, true])
          it(`matches a naive product on odd sizes, transA=${ta} transB=${tb}`, () => {
            let seed = 11;
            for (const [m, n, k] of sizes) {
              const { a, b } = operands(m, n, k, ta, tb, (seed += 2));
              const { c } = gemm({ a, b, transA: ta, transB: tb }, { backend });
              checkProduct(c, reference(a, b, ta, tb), `${backend} ${m}x${n}x${k} tA=${ta} tB=${tb}`);
            }
          });

      it('splits a large product across the worker threads and gets the same answer', function () {
        if (native().info().threads < 2) this.skip();
        // 2 * 200 * 300 * 170 flops is far above the threshold for going parallel.
        const { a, b } = operands(200, 300, 170, false, true, 99);
        const { c } = gemm({ a, b, transB: true }, { backend });
        checkProduct(c, reference(a, b, false, true), `${backend} threaded`);
      });
    });
  }

  it('gives zeros for an empty inner dimension and empty results for empty outer ones', () => {
    const { c } = gemm({ a: tensor(new Float32Array(0), [3, 0]), b: tensor(new Float32Array(0), [0, 4]) });
    assert.deepEqual(c.shape, [3, 4]);
    assert.deepEqual(Array.from(c.data), new Array(12).fill(0));
    const e = gemm({ a: tensor(new Float32Array(0), [0, 5]), b: randomTensor([5, 2], 1) });
    assert.deepEqual(e.c.shape, [0, 2]);
  });

  it('propagates NaN and infinity (no fast-math) without spilling into other rows', () => {
    const a = tensor([1, 1, Infinity, 1, NaN, 0], [3, 2]);
    const b = tensor([1, 1, 1, 1, 1, 1], [2, 3]);
    const { c } = gemm({ a, b });
    assert.deepEqual(Array.from(c.data.subarray(0, 6)), [2, 2, 2, Infinity, Infinity, Infinity]);
    assert.ok(Array.from(c.data.subarray(6)).every(Number.isNaN));
  });

  it('has an async form with the same result', async () => {
    const { a, b } = operands(40, 50, 60, true, false, 5);
    const sync = gemm({ a, b, transA: true });
    const asy = await gemmAsync({ a, b, transA: true });
    assert.deepEqual(Array.from(asy.c.data), Array.from(sync.c.data));
  });

  it('names the argument when the inner sizes disagree', async () => {
    const a = randomTensor([3, 4], 1);
    const b = randomTensor([5, 2], 2);
    assert.throws(() => gemm({ a, b }), /argument 'b'.*inner size of 5.*has 4/);
    await assert.rejects(gemmAsync({ a, b }), /argument 'b'/);
    assert.throws(() => gemm({ a: randomTensor([2, 2, 2], 1), b }), /argument 'a' must have 2 dimensions/);
    assert.throws(() => gemm({ a, b: randomTensor([4, 2], 3), transA: 1 as unknown as boolean }), /argument 'transA' must be a boolean/);
  });
});
