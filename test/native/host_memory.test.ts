// The engine's caching allocator (native/engine/caching_allocator.h): its rules
// over a counting memory source in `test-backend-ops allocator` (reuse, size
// classes, streams and fences, cap, release, the footprint bound, 8 threads),
// and the host pool behind every CPU tensor through the addon: reuse across
// calls, a model's steady-state forward asking nothing of the system,
// releaseCachedMemory, and CORNERNET_HOST_CACHE_MB (in child processes, since
// the pool reads it once). Op results handed to JS keep their blocks until
// the garbage collector frees them, so the checks go through a model, whose
// intermediate tensors are the engine's own.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Model } from '../../lib/model';
import { type BackendMemory, native, packageRoot } from '../../lib/native';

const program = path.join(packageRoot, 'build', 'cmake', 'Release', 'test-backend-ops');
const nativeModule = path.join(packageRoot, 'dist', 'lib', 'native.js');

const host = () => native().backendInfo('cpu').memory;

/** Runs `body` (JS using `n`, the addon, and `Model` from lib/model) in a child Node with `env`; its stdout parsed as JSON. */
function inChild(env: Record<string, string>, body: string, nodeFlags: string[] = []): { out: unknown; stderr: string } {
  const script = `const { native: nativeOf } = require(${JSON.stringify(nativeModule)}); const n = nativeOf();
const { Model } = require(${JSON.stringify(path.join(packageRoot, 'dist', 'lib', 'model.js'))});
${body}`;
  const r = spawnSync(process.execPath, [...nodeFlags, '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return { out: JSON.parse(r.stdout), stderr: r.stderr };
}

describe('host memory pool (caching allocator)', () => {
  it('test-backend-ops allocator: reuse, classes, streams, cap, release, footprint bound, threads', function () {
    if (!fs.existsSync(program)) this.skip();
    const r = spawnSync(program, ['allocator'], { encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, `failed:\n${out.split('\n').filter((l) => !l.startsWith('ok')).join('\n')}`);
    assert.match(out, /allocator: 0 failed/);
    assert.doesNotMatch(out, /FAIL/);
  });

  it('backendInfo("cpu").memory reports the host pool, with no pinned figures', () => {
    const m = host();
    for (const k of ['inUse', 'cached', 'peak', 'mallocs', 'frees', 'reuses', 'resizes', 'cap'] as const)
      assert.ok(Number.isInteger(m[k]) && m[k] >= 0, `${k} = ${m[k]}`);
    assert.ok(m.cap > 0, 'the default cap caches something');
    assert.equal(m.pinned, undefined);
  });

  it("a model's steady-state train-mode forward asks the system for no block, with the same outputs", function () {
    this.timeout(60_000);
    // In a child with the collector at hand: outputs handed to JS give their blocks back when collected.
    const body = `const model = new Model('shapes-tiny', { seed: 3 });
const input = { data: Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.01)), shape: [2, 3, 64, 64] };
(async () => {
  const outs = [];
  const figures = [];
  for (let i = 0; i < 4; i++) {
    const o = await model.forward(input, { train: true });
    outs.push(Array.from(o[0].tlHeat.data.subarray(0, 64)));
    global.gc();
    figures.push(n.backendInfo('cpu').memory);
  }
  process.stdout.write(JSON.stringify({ outs, figures }));
})();`;
    // One engine thread: on two, the corner head's corners run side by side
    // (CpuBackend::run_branches) and the order of their allocations, so which
    // cached block serves which request, varies from step to step.
    const r = inChild({ CORNERNET_NUM_THREADS: '1' }, body, ['--expose-gc']).out as { outs: number[][]; figures: BackendMemory[] };
    const [, , m1, m2] = r.figures as [BackendMemory, BackendMemory, BackendMemory, BackendMemory];
    assert.equal(m2.mallocs, m1.mallocs, `new host blocks in a steady-state forward: ${m2.mallocs - m1.mallocs}`);
    assert.ok(m2.reuses > m1.reuses);
    assert.ok(m2.inUse + m2.cached <= m2.peak + m2.peak / 16, 'the pool never holds more than its in-use peak and margin');
    for (const o of r.outs.slice(1)) assert.deepEqual(o, r.outs[0]);
  });

  it('releaseCachedMemory gives every cached block back and returns the figures', async () => {
    await new Model('shapes-tiny', { seed: 1 }).forward({ data: new Float32Array(3 * 64 * 64).fill(0.5), shape: [1, 3, 64, 64] });
    const before = host();
    assert.ok(before.cached > 0);
    const after = native().releaseCachedMemory();
    assert.equal(after.cached, 0);
    assert.ok(after.frees > before.frees);
    assert.equal(host().cached, 0);
    assert.equal(native().releaseCachedMemory('cpu').cached, 0);
    assert.throws(() => native().releaseCachedMemory('cuda:9'), /releaseCachedMemory: /);
    assert.throws(() => native().releaseCachedMemory(5 as unknown as string), /argument 'backend' must be a string/);
  });

  it('CORNERNET_HOST_CACHE_MB=0 caches nothing; =1 caps the cache at 1 MiB; by default a forward leaves more cached', () => {
    const body = `const model = new Model('shapes-tiny', { seed: 1 });
const x = { data: new Float32Array(2 * 3 * 128 * 128).fill(0.5), shape: [2, 3, 128, 128] };
model.forward(x).then(() => model.forward(x)).then(() => {
  const m = n.backendInfo('cpu').memory;
  process.stdout.write(JSON.stringify({ cap: m.cap, cached: m.cached, reuses: m.reuses }));
});`;
    type Figures = { cap: number; cached: number; reuses: number };
    const none = inChild({ CORNERNET_HOST_CACHE_MB: '0' }, body).out as Figures;
    assert.equal(none.cap, 0);
    assert.equal(none.cached, 0);
    assert.equal(none.reuses, 0);
    const one = inChild({ CORNERNET_HOST_CACHE_MB: '1' }, body).out as Figures;
    assert.equal(one.cap, 1 << 20);
    assert.ok(one.cached <= 1 << 20, `cached ${one.cached}`);
    const dflt = inChild({}, body).out as Figures;
    assert.ok(dflt.cached > 1 << 20 && dflt.reuses > none.reuses, `default: ${JSON.stringify(dflt)}`);
  });

  it('a CORNERNET_HOST_CACHE_MB that is not a number is named on stderr and the default cap used', () => {
    const r = inChild({ CORNERNET_HOST_CACHE_MB: 'lots' }, `process.stdout.write(JSON.stringify(n.backendInfo('cpu').memory.cap));`);
    assert.ok((r.out as number) > 0);
    assert.match(r.stderr, /CORNERNET_HOST_CACHE_MB='lots'/);
  });
});
