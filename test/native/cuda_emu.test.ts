// The CUDA emulator (native/cuda_emu) and the CUDA corner-pool kernels running
// on it. Emulator primitives are checked through self-test kernels
// (test/native/cuda_check/selftest_kernels.cuh) whose results are recomputed
// here from the CUDA semantics; the corner pools through the cuda_emu plugin's
// backend, against a JavaScript reference and the reference fixtures.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { native, packageRoot } from '../../lib/native';
import { readNpy } from '../helpers/npy';
import { type CornerPoolMode, pluginCornerPool, runTool, selftest } from './cuda_check_tool';
import { cornerPoolBackwardRef, cornerPoolForwardRef } from './cuda_corner_pool_reference';
import { mulberry32 } from '../../bench/rng';

const MODES: CornerPoolMode[] = ['top', 'bottom', 'left', 'right'];

function sameFloats(actual: Float32Array, expected: Float32Array, what: string, rtol = 0, atol = 0): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; ++i) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    if (Math.abs(a - e) <= atol + rtol * Math.abs(e)) continue;
    assert.fail(`${what}: element ${i} is ${a}, expected ${e}`);
  }
}

describe('CUDA emulator', () => {
  describe('barriers and shared memory', () => {
    it('__syncthreads orders every round of writes and reads across the block (dynamic shared memory)', () => {
      const r = selftest<{ blocks: number; threads: number; rounds: number; in: number[]; out: number[] }>('shared_rotate');
      for (let b = 0; b < r.blocks; ++b) {
        let v = r.in.slice(b * r.threads, (b + 1) * r.threads);
        for (let k = 0; k < r.rounds; ++k) v = v.map((_, t) => v[(t + k + 1) % r.threads]! + (t % 3 === 0 ? 1 : 0));
        assert.deepEqual(r.out.slice(b * r.threads, (b + 1) * r.threads), v, `block ${b}`);
      }
    });

    it('a tree reduction in static __shared__ memory sums each block', () => {
      const r = selftest<{ in: number[]; out: number[] }>('block_sum');
      r.out.forEach((s, b) => {
        const want = r.in.slice(b * 256, (b + 1) * 256).reduce((a, c) => a + c, 0);
        assert.equal(s, want, `block ${b}`);
      });
    });
  });

  describe('warp collectives', () => {
    interface Shuffles {
      outsPerThread: number;
      in: number[];
      in64: number[];
      out: number[];
      out64: number[];
      votes: number[];
    }
    let r: Shuffles;
    before(() => {
      r = selftest<Shuffles>('shuffles');
    });
    // CUDA's definition: within segments of `width` lanes; up/down out of the
    // segment, and xor into a later segment, return the caller's own value.
    const seg = (l: number, w: number) => Math.floor(l / w) * w;
    const cases: [string, number, (l: number) => number][] = [
      ['__shfl_sync(src = 7l+3)', 0, (l) => (l * 7 + 3) % 32],
      ['__shfl_sync(src = l+5, width 8)', 1, (l) => seg(l, 8) + ((l + 5) & 7)],
      ['__shfl_sync(src = -3)', 2, () => 29],
      ['__shfl_up_sync(1)', 3, (l) => (l - 1 < 0 ? l : l - 1)],
      ['__shfl_up_sync(3)', 4, (l) => (l - 3 < 0 ? l : l - 3)],
      ['__shfl_up_sync(2, width 8)', 5, (l) => (l - 2 < seg(l, 8) ? l : l - 2)],
      ['__shfl_down_sync(1)', 6, (l) => (l + 1 > 31 ? l : l + 1)],
      ['__shfl_down_sync(5)', 7, (l) => (l + 5 > 31 ? l : l + 5)],
      ['__shfl_down_sync(3, width 16)', 8, (l) => (l + 3 >= seg(l, 16) + 16 ? l : l + 3)],
      ['__shfl_xor_sync(1)', 9, (l) => l ^ 1],
      ['__shfl_xor_sync(19)', 10, (l) => l ^ 19],
      ['__shfl_xor_sync(12, width 8)', 11, (l) => ((l ^ 12) >= seg(l, 8) + 8 ? l : l ^ 12)],
      ['__shfl_up_sync(16) after __syncwarp', 13, (l) => (l < 16 ? l : l - 16)],
    ];
    for (const [name, slot, src] of cases) {
      it(`${name} reads the right lane of the same warp`, () => {
        for (let t = 0; t < r.in.length; ++t) {
          const l = t % 32;
          assert.equal(r.out[t * r.outsPerThread + slot], r.in[t - l + src(l)], `thread ${t}`);
        }
      });
    }
    it('a butterfly of __shfl_xor_sync gives every lane the warp total', () => {
      for (let w = 0; w < r.in.length / 32; ++w) {
        let s = r.in.slice(w * 32, w * 32 + 32);
        for (let m = 16; m > 0; m >>= 1) s = s.map((v, l) => Math.fround(v + s[l ^ m]!));
        for (let l = 0; l < 32; ++l) assert.equal(r.out[(w * 32 + l) * r.outsPerThread + 12], s[l], `warp ${w} lane ${l}`);
      }
    });
    it('shuffles move 8-byte values whole', () => {
      for (let t = 0; t < r.in64.length; ++t) {
        const l = t % 32;
        assert.equal(r.out64[t], r.in64[l + 2 > 31 ? t : t + 2], `thread ${t}`);
      }
    });
    it('__ballot_sync, __any_sync and __all_sync vote within one warp', () => {
      for (let w = 0; w < r.in.length / 32; ++w) {
        const lanes = r.in.slice(w * 32, w * 32 + 32);
        const ballot = lanes.reduce((b, v, l) => (v > 0 ? b | (1 << l) : b), 0) >>> 0;
        const any = lanes.some((v) => v > 0.9) ? 1 : 0;
        const all = lanes.every((v) => v > -0.99) ? 1 : 0;
        for (let l = 0; l < 32; ++l) {
          const t = w * 32 + l;
          assert.deepEqual(r.votes.slice(t * 3, t * 3 + 3), [ballot, any, all], `warp ${w} lane ${l}`);
        }
      }
    });

    it('diverged warps and half-warps run their own collectives (not a block-wide barrier)', () => {
      const r2 = selftest<{ in: number[]; out: number[] }>('divergent');
      const v = r2.in.slice();
      // warp 1: seven rotations, while warp 0 already waits at __syncthreads
      for (let i = 0; i < 7; ++i) {
        const p = v.slice(32, 64);
        for (let l = 0; l < 32; ++l) v[32 + l] = p[(l + 1) % 32]! + i;
      }
      // warp 0: lanes 0-15 four rounds of shfl_down(1, width 16), lanes 16-31 two of shfl_up(2, width 16)
      for (let i = 0; i < 4; ++i) {
        const p = v.slice(0, 16);
        for (let l = 0; l < 16; ++l) v[l] = p[l]! + p[l + 1 < 16 ? l + 1 : l]!;
      }
      for (let i = 0; i < 2; ++i) {
        const p = v.slice(16, 32);
        for (let l = 0; l < 16; ++l) v[16 + l] = p[l]! + p[l - 2 >= 0 ? l - 2 : l]!;
      }
      for (let t = 0; t < 64; ++t) {
        const l = t % 32;
        const wb = t - l;
        const odd = (l & 1) === 1;
        let ballot = 0;
        for (let k = 1; k < 32; k += 2) if (v[wb + k]! % 2 === 0) ballot |= 1 << k;
        assert.deepEqual(r2.out.slice(t * 3, t * 3 + 3), [v[t], odd ? v[wb + (l ^ 2)] : -1, odd ? ballot | 0 : 0], `thread ${t}`);
      }
    });
  });

  it('atomicAdd (float, int, unsigned) and atomicMax from many blocks on several OS threads lose no update', () => {
    const r = selftest<{ repeats: number; fsum: number; imax: number; usum: number; in: number[]; hist: number[] }>('atomics');
    const hist = new Array<number>(16).fill(0);
    let fsum = 0;
    let usum = 0;
    for (const v of r.in) {
      fsum += (v % 8) * 0.125 * r.repeats;
      hist[v & 15]! += 1;
      usum = (usum + v) >>> 0;
    }
    assert.equal(r.fsum, fsum);
    assert.deepEqual(r.hist, hist);
    assert.equal(r.imax, Math.max(...r.in));
    assert.equal(r.usum, usum);
  });

  describe('reports kernel bugs the hardware would hang on or silently garble', () => {
    const cases: [string, RegExp][] = [
      ['bad_barrier', /deadlock: 16 thread\(s\) wait at __syncthreads; warp 0: lanes 0xffff0000 wait in __shfl_sync/],
      ['bad_mask_self', /calls __shfl_sync with mask 0x1, which leaves out the calling lane/],
      ['bad_source', /__shfl_sync reading lane 20, which is not in the mask 0xffff/],
      ['missing_lane', /deadlock: .*for lanes 0x20 that have exited/],
      ['partial_warp', /deadlock: .*that have exited or do not exist/],
      ['mixed_collectives', /__shfl_(up|down)_sync \(width 32\) meets lanes .* in __shfl_(down|up)_sync/],
      ['bad_launch', /invalid configuration argument \(block 2048x1x1/],
    ];
    for (const [name, re] of cases) {
      it(name, () => {
        const r = runTool(['selftest', name]);
        assert.equal(r.status, 3, `exit status (stdout: ${r.stdout}, stderr: ${r.stderr})`);
        assert.match(r.stderr, re);
      });
    }
  });
});

describe('CUDA corner pools on the emulated device (cuda-emu)', () => {
  let plugin: string;
  before(() => {
    const emu = native().info().cudaEmu;
    assert.ok(emu.loaded && emu.status === 'ok', `the cuda_emu plugin must load here: ${emu.status} ${emu.message}`);
    plugin = emu.path;
  });

  it('the addon opens cuda-emu as a CUDA device with the CUDA backend\'s kernels', () => {
    const b = native().backendInfo('cuda-emu');
    assert.equal(b.name, 'cuda-emu');
    assert.equal(b.device, 'cuda:0');
    // Every op the CUDA backend has a kernel for (more arrive op by op).
    for (const op of [
      'adam_update', 'add_forward', 'axpy', 'batch_norm_backward', 'batch_norm_forward_eval', 'batch_norm_forward_train',
      'conv2d_backward', 'conv2d_forward', 'copy', 'corner_head_losses', 'corner_pool_backward', 'corner_pool_forward',
      'corner_targets', 'decode', 'maxpool3x3_backward',
      'maxpool3x3_forward', 'relu_backward', 'relu_forward', 'sigmoid_backward', 'sigmoid_forward', 'sum_squares',
      'upsample2x_backward', 'upsample2x_forward',
    ])
      assert.ok(b.supports.includes(op), `cuda-emu supports ${op} (has: ${b.supports.join(', ')})`);
  });

  // W and H around the 32-lane chunks, single rows and columns, several planes.
  const shapes = [
    [2, 3, 7, 5],
    [1, 2, 33, 70],
    [1, 1, 1, 32],
    [3, 1, 40, 1],
    [1, 4, 9, 64],
    [2, 2, 17, 97],
  ];
  const draws: [string, (r: () => number) => number][] = [
    ['small integers (many ties)', (r) => Math.floor(r() * 4) - 1],
    ['floats', (r) => r() * 4 - 2],
  ];
  for (const mode of MODES) {
    for (const [kind, draw] of draws) {
      it(`${mode}: forward and backward match the reference on random ${kind}`, () => {
        const r = mulberry32(mode.length * 1000 + kind.length);
        for (const shape of shapes) {
          const n = shape.reduce((a, b) => a * b, 1);
          const x = Float32Array.from({ length: n }, () => draw(r));
          const gy = Float32Array.from({ length: n }, () => Math.floor(r() * 17 - 8) / 8);
          const what = `${mode} [${shape.join(',')}]`;
          const y = pluginCornerPool(plugin, 0, mode, shape, x);
          assert.equal(y.backend, 'cuda-emu');
          sameFloats(y.out, cornerPoolForwardRef(x, shape, mode), `${what} y`);
          // gy in multiples of 1/8: every gradient sum is exact whatever the order
          sameFloats(pluginCornerPool(plugin, 0, mode, shape, x, gy).out, cornerPoolBackwardRef(x, gy, shape, mode), `${what} gradX`);
        }
      });
    }
    it(`${mode}: NaN wins the running max and keeps its gradient`, () => {
      const shape = [1, 1, 6, 40];
      const r = mulberry32(7);
      const x = Float32Array.from({ length: 240 }, () => Math.floor(r() * 3));
      for (const i of [3, 77, 150, 151, 239]) x[i] = NaN;
      const gy = Float32Array.from({ length: 240 }, () => Math.floor(r() * 9) / 8);
      sameFloats(pluginCornerPool(plugin, 0, mode, shape, x).out, cornerPoolForwardRef(x, shape, mode), `${mode} y`);
      sameFloats(pluginCornerPool(plugin, 0, mode, shape, x, gy).out, cornerPoolBackwardRef(x, gy, shape, mode), `${mode} gradX`);
    });
  }

  describe('reference fixtures', () => {
    const dir = opsFixtureDir();
    const cases = fs.readdirSync(dir).filter((d) => d.startsWith('corner_pool_')).sort();
    it('has corner_pool cases', () => assert.ok(cases.length >= 4, `no corner_pool_* cases in ${dir}`));
    for (const name of cases) {
      it(name, () => {
        const m = JSON.parse(fs.readFileSync(path.join(dir, name, 'manifest.json'), 'utf8')) as Manifest;
        const load = (f: string) => readNpy(path.join(dir, name, f));
        const x = load(m.inputs.x.file);
        const gy = load(m.inputs.grad_y.file);
        const mode = m.params.mode as CornerPoolMode;
        const tol = (k: string) => m.suggested_tolerance[k] ?? m.suggested_tolerance.all ?? { rtol: 0, atol: 0 };
        const y = pluginCornerPool(plugin, 0, mode, x.shape, x.data).out;
        sameFloats(y, load(m.outputs.y.file).data, `${name} y`, tol('y').rtol, tol('y').atol);
        const gx = pluginCornerPool(plugin, 0, mode, x.shape, x.data, gy.data).out;
        sameFloats(gx, load(m.outputs.grad_x.file).data, `${name} grad_x`, tol('grad_x').rtol, tol('grad_x').atol);
      });
    }
  });
});

interface Manifest {
  params: { mode: string };
  inputs: Record<string, { file: string }> & { x: { file: string }; grad_y: { file: string } };
  outputs: Record<string, { file: string }> & { y: { file: string }; grad_x: { file: string } };
  suggested_tolerance: Record<string, { rtol: number; atol: number }>;
}

/** CORNERNET_OPS_FIXTURES, else the project's copy, else the shared originals beside the checkout. */
function opsFixtureDir(): string {
  const candidates = [
    process.env.CORNERNET_OPS_FIXTURES,
    path.join(packageRoot, 'test', 'fixtures', 'ops'),
    path.join(packageRoot, '..', 'shared', 'fixtures', 'ops'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`no ops fixtures: looked in ${candidates.join(', ')}`);
  return found;
}
