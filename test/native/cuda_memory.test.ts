// The CUDA backend's caching device allocator and pinned staging buffers
// (native/cuda/device_allocator.h, pinned_staging.h), on the emulated device
// (cuda-emu) with the allocator's own counters from backendInfo().memory:
// device memory stays flat over 1,000 steps, blocks are reused without
// cudaMalloc, and running out of memory empties the cache and retries once.
import { strict as assert } from 'assert';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

import { type BackendMemory, native, type TensorData } from '../../lib/native';
import { copy, cornerPoolBackwardAsync, cornerPoolForward } from '../../lib/ops';
import { runTool } from './cuda_check_tool';

const BACKEND = 'cuda-emu';
const ON = { backend: BACKEND };

function memory(): BackendMemory {
  const m = native().backendInfo(BACKEND).memory;
  assert.ok(m, `backendInfo('${BACKEND}') has no memory figures`);
  return m;
}

/**
 * The figures once earlier tests' garbage is gone: a device tensor a test left to
 * the collector gives its block back whenever the collector comes by (it once did
 * mid-loop, 4.7 MB, and "in use" fell below the loop's start). Collects, then
 * lets the finalizers the collection scheduled run.
 */
async function settledMemory(): Promise<BackendMemory> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setTimeout(r, 20));
  return memory();
}

function tensor(shape: number[], f: (i: number) => number): TensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => f(i)), shape };
}

describe('CUDA caching allocator (cuda-emu)', function () {
  before(function () {
    const emu = native().info().cudaEmu;
    if (!(emu.loaded && emu.status === 'ok')) this.skip();
  });

  it('backendInfo reports the device pool\'s figures, with the pinned staging figures that only CUDA backends have', () => {
    const m = memory();
    for (const k of ['inUse', 'cached', 'peak', 'mallocs', 'frees', 'reuses', 'pinned', 'pinnedAllocs'] as const) {
      const v = m[k];
      assert.ok(v !== undefined && Number.isInteger(v) && v >= 0, `${k} = ${v}`);
    }
    assert.equal(native().backendInfo('cpu').memory.pinned, undefined);
  });

  it('freeing and re-allocating the same shape reuses the block: no cudaMalloc the second time', () => {
    // 9.6 MB: the 10 MiB size class, which no other test's tensors fall in (small
    // classes may already be cached by tests that ran before), so the first call must allocate.
    const x = tensor([3, 7, 13, 8791], (i) => (i % 1013) * 0.25 - 7);
    const m0 = memory();
    const y1 = copy({ x }, ON);
    const m1 = memory();
    // copy uploads x (a block of the copy stream) and writes y (a block of the compute stream).
    assert.equal(m1.mallocs - m0.mallocs, 2, 'first call: two new blocks');
    assert.equal(m1.inUse, m0.inUse, 'both blocks went back when the call returned');
    assert.ok(m1.cached >= m0.cached + 2 * 10 * 2 ** 20, `cached ${m0.cached} -> ${m1.cached}`);
    const y2 = copy({ x }, ON);
    const m2 = memory();
    assert.equal(m2.mallocs, m1.mallocs, 'second call: both blocks from the cache');
    assert.equal(m2.frees, m1.frees);
    assert.equal(m2.cached, m1.cached);
    assert.deepEqual(y1.y.data, x.data);
    assert.deepEqual(y2.y.data, x.data);
  });

  it('device memory stays flat across 1,000 steps of uploads, corner pools, copies and downloads', async function () {
    this.timeout(60_000);
    const shape = [1, 2, 6, 40];
    const big = [1, 3, 320, 320]; // 1.2 MiB: the 2 MiB size class
    const xBig = tensor(big, (i) => (i % 97) - 48);
    const steps = 1000;
    let expectedY: Float32Array | undefined;
    let expectedGx: Float32Array | undefined;
    const start = await settledMemory();
    let afterFirst: BackendMemory | undefined;
    for (let step = 0; step < steps; ++step) {
      // New inputs every step, as a training loop's batches are.
      const x = tensor(shape, (i) => Math.floor(((i * 7 + step) % 11) / 2));
      const gy = tensor(shape, (i) => ((i % 5) - 2) / 4);
      const y = cornerPoolForward({ x, mode: 'left' }, ON);
      const gx = await cornerPoolBackwardAsync({ x, gradY: gy, mode: 'top' }, ON);
      // Every tenth step (it moves 1.2 MB six times): a block of the large class.
      const c = step % 10 === 0 ? copy({ x: xBig }, ON) : undefined;
      if (step % 11 === 0) {
        // x repeats every 11 steps: reused blocks and staging buffers must not mix data up.
        if (!expectedY) {
          expectedY = y.y.data;
          expectedGx = gx.gradX.data;
        } else {
          assert.deepEqual(y.y.data, expectedY, `step ${step}: corner pool forward`);
          assert.deepEqual(gx.gradX.data, expectedGx, `step ${step}: corner pool backward`);
        }
      }
      if (step % 100 === 0) assert.deepEqual(c!.y.data, xBig.data, `step ${step}: copy`);
      const m = memory();
      assert.equal(m.inUse, start.inUse, `step ${step}: bytes in use back to the start`);
      if (step === 0) {
        afterFirst = m;
        // Whatever the first step allocated went to the cache, not back to the driver.
        assert.equal(m.frees, start.frees, 'step 0: no cudaFree');
        assert.ok(m.cached - start.cached >= (m.mallocs - start.mallocs) * 512, 'step 0: new blocks cached');
      } else {
        assert.equal(m.mallocs, afterFirst!.mallocs, `step ${step}: no cudaMalloc after the first step`);
        assert.equal(m.frees, afterFirst!.frees, `step ${step}: no cudaFree`);
        assert.equal(m.cached, afterFirst!.cached, `step ${step}: cache size flat`);
        assert.equal(m.peak, afterFirst!.peak, `step ${step}: peak flat`);
        assert.equal(m.pinnedAllocs, afterFirst!.pinnedAllocs, `step ${step}: no new pinned buffer`);
      }
    }
    // A step needs at most one block per tensor alive at once: x, gy and gradX (or y), big x and big y.
    const firstStep = afterFirst!.mallocs - start.mallocs;
    assert.ok(firstStep <= 5, `cudaMalloc calls in the first step: ${firstStep}`);
  });

  it('reuse, per-stream pools, size classes and out-of-memory through the plugin (an 8 MiB emulated device)', () => {
    const plugin = native().info().cudaEmu.path;
    const r = runTool(['memory', plugin, '0'], { CN_EMU_DEVICE_MEMORY: String(8 << 20) });
    assert.equal(r.status, 0, `exit status ${r.status}: ${r.stderr}`);
    interface Step extends BackendMemory {
      step: string;
      sameBlock?: boolean;
      error?: string | null;
      dataOk?: boolean;
    }
    const steps = JSON.parse(r.stdout) as Step[];
    const at = (name: string): Step => {
      const s = steps.find((x) => x.step === name);
      assert.ok(s, `step ${name} missing from ${r.stdout}`);
      return s;
    };
    const MiB = 1 << 20;
    const { step: _start, ...fresh } = at('start');
    assert.deepEqual(fresh, { inUse: 0, cached: 0, peak: 0, mallocs: 0, frees: 0, pinned: 0, pinnedAllocs: 0 });
    assert.equal(at('alloc-4MiB').inUse, 4 * MiB);
    assert.equal(at('alloc-4MiB').mallocs, 1);
    assert.equal(at('freed-4MiB').inUse, 0);
    assert.equal(at('freed-4MiB').cached, 4 * MiB);
    const re = at('realloc-4MiB');
    assert.equal(re.sameBlock, true);
    assert.equal(re.mallocs, 1);
    assert.equal(re.cached, 0);
    // 6 MiB beside the cached 4 MiB does not fit 8 MiB: the cache was freed, then the retry worked.
    const retry = at('oom-retry');
    assert.equal(retry.mallocs, 2);
    assert.equal(retry.frees, 1);
    assert.equal(retry.cached, 0);
    assert.equal(retry.inUse, 6 * MiB);
    const oom = at('oom');
    assert.ok(oom.error, 'an 8 MiB request with 6 MiB held must fail');
    assert.match(oom.error!, /cannot allocate 8388608 bytes/);
    assert.match(oom.error!, /shape \[2,1048576\]/);
    assert.match(oom.error!, /out of memory/);
    assert.equal(oom.inUse, 6 * MiB);
    assert.equal(oom.peak, 6 * MiB);
    assert.equal(at('freed-6MiB').cached, 6 * MiB);
    // Uploads: the second one reuses the copy stream's block and the pinned buffer; data intact.
    const u1 = at('upload-1');
    const u2 = at('upload-2');
    assert.equal(u1.dataOk, true);
    assert.equal(u2.dataOk, true);
    assert.equal(u2.mallocs, u1.mallocs);
    assert.equal(u1.pinnedAllocs, 1);
    assert.equal(u2.pinnedAllocs, 1);
    assert.equal(u2.pinned, 4096);
    // The same size on the compute stream is another stream's block: a new one.
    assert.equal(at('empty-same-size-compute-stream').mallocs, u2.mallocs + 1);
    // 400 B and 512 B share the 512 B class; 516 B rounds to 1 KiB.
    const s400 = at('alloc-400B');
    assert.equal(s400.inUse, 512);
    assert.equal(at('alloc-512B').mallocs, s400.mallocs);
    assert.equal(at('alloc-516B').mallocs, s400.mallocs + 1);
    assert.equal(at('alloc-516B').inUse, 1024);
  });
});
