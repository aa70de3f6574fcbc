// The engine's trainer: steps on a native thread, replicas, resume, NaN stop.
import { strict as assert } from 'assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { NativeTrainer, type NativeTrainerOptions, type StepEvent, type TrainBatch, type TrainerEvent } from '../../lib/train/native_trainer';
import { availableBackends } from '../../lib/ops';
import { batchOf, tiny } from './tiny_batches';

async function run(opts: NativeTrainerOptions, batches: TrainBatch[], resumeFrom?: Awaited<ReturnType<NativeTrainer['snapshot']>>) {
  const events: TrainerEvent[] = [];
  const t = new NativeTrainer(opts, (e) => events.push(e));
  try {
    if (resumeFrom) await t.load(resumeFrom);
    for (const b of batches) t.feed(b);
    const state = await t.snapshot();
    return { events, state };
  } finally {
    await t.close();
  }
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** SHA-256 of the weights after `steps` steps of 2 replicas x `per` images on `backend`, in a child with `env` (thread and device counts are read once per process). */
function replicaWeightsDigest(backend: string, env: Record<string, string>, steps = 3, per = 2, replicas = 2): string {
  const dist = path.join(__dirname, '..', '..');
  const script = `
const { NativeTrainer } = require(${JSON.stringify(path.join(dist, 'lib', 'train', 'native_trainer.js'))});
const { batchOf, tiny } = require(${JSON.stringify(path.join(dist, 'test', 'train', 'tiny_batches.js'))});
const { createHash } = require('node:crypto');
(async () => {
  const t = new NativeTrainer({ model: tiny, seed: 7, replicas: ${replicas}, backend: ${JSON.stringify(backend)} }, (e) => {
    if (e.type !== 'step') { console.error(JSON.stringify(e)); process.exit(1); }
  });
  for (let i = 0; i < ${steps}; i++) t.feed(batchOf(Array.from({ length: ${replicas * per} }, (_, k) => ${replicas * per} * i + k), i, 2e-3));
  const { stateDict } = await t.snapshot();
  await t.close();
  const h = createHash('sha256');
  for (const k of Object.keys(stateDict).sort()) h.update(k).update(Buffer.from(stateDict[k].data.buffer));
  console.log(h.digest('hex'));
})().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 110_000 });
  assert.equal(r.status, 0, `${backend} ${JSON.stringify(env)}: ${r.stderr}`);
  return r.stdout.trim();
}

describe('train/native_trainer', function () {
  this.timeout(120000);

  it('runs steps on its own thread, one event each, and the loss goes down', async () => {
    const batches = Array.from({ length: 12 }, (_, i) => batchOf([0, 1], i, 2e-3));
    const { events } = await run({ model: tiny, seed: 3 }, batches);
    const steps = events.filter((e): e is StepEvent => e.type === 'step');
    assert.equal(steps.length, 12);
    assert.deepEqual(steps.map((s) => s.iter), [...Array(12).keys()]);
    for (const k of ['det_l0', 'pull_l0', 'push_l0', 'off_l0', 'det_l1', 'off_l1']) assert.ok(Number.isFinite(steps[0]!.losses[k]), k);
    assert.ok(steps[11]!.total < 0.7 * steps[0]!.total, `${steps[0]!.total} -> ${steps[11]!.total}`);
  });

  it('a resumed run gives the same weights as an uninterrupted one', async () => {
    const batches = Array.from({ length: 6 }, (_, i) => batchOf([i, i + 1], i));
    const whole = await run({ model: tiny, seed: 5 }, batches);
    const first = await run({ model: tiny, seed: 5 }, batches.slice(0, 3));
    const rest = await run({ model: tiny, seed: 99 }, batches.slice(3), first.state);
    for (const [k, v] of Object.entries(whole.state.stateDict)) {
      const w = rest.state.stateDict[k]!;
      if (v.data instanceof BigInt64Array) assert.equal(v.data[0], w.data[0], k);
      else assert.equal(maxDiff(v.data, w.data as Float32Array), 0, k);
    }
  });

  it('2 replicas x 1 image give the weights of 1 replica x 2 images (frozen BN, per-image-summed terms off)', async () => {
    // Pull/push are summed over a replica's images (as the reference does), so
    // only the positive-count-normalised terms average identically across replica
    // layouts; both images carry the same number of objects.
    const opts = { model: tiny, seed: 7, frozenBn: true, loss: { pullWeight: 0, pushWeight: 0 } };
    const batches = Array.from({ length: 4 }, (_, i) => batchOf([2 * i, 2 * i + 1], i));
    const one = await run({ ...opts, replicas: 1 }, batches);
    const two = await run({ ...opts, replicas: 2 }, batches);
    let worst = 0;
    for (const [k, v] of Object.entries(one.state.stateDict)) {
      if (v.data instanceof BigInt64Array) continue;
      worst = Math.max(worst, maxDiff(v.data, two.state.stateDict[k]!.data as Float32Array));
    }
    assert.ok(worst < 1e-5, `max weight difference ${worst}`);
    const l1 = (one.events[3] as StepEvent).total, l2 = (two.events[3] as StepEvent).total;
    assert.ok(Math.abs(l1 - l2) < 1e-4 * Math.abs(l1), `${l1} vs ${l2}`);
  });

  it('CPU replicas run on their own threads: the same weights bit for bit with 1, 2, 3 or 4 engine threads', function () {
    // Each replica gets a pool with its share of CORNERNET_NUM_THREADS (1 is 1
    // and 1, 3 is 2 and 1, 4 is 2 and 2), read once per process: a child each.
    const digests = ['1', '2', '3', '4'].map((n) => replicaWeightsDigest('cpu', { CORNERNET_NUM_THREADS: n }));
    assert.match(digests[0]!, /^[0-9a-f]{64}$/);
    assert.deepEqual(digests, [digests[0], digests[0], digests[0], digests[0]]);
  });

  it('one replica: the same weights bit for bit with 1, 2 (the corners side by side) or 4 engine threads', function () {
    // 2 threads run the corner head's two corners side by side (CpuBackend::run_branches), 1 and 4 split every op.
    const digests = ['1', '2', '4'].map((n) => replicaWeightsDigest('cpu', { CORNERNET_NUM_THREADS: n }, 3, 4, 1));
    assert.match(digests[0]!, /^[0-9a-f]{64}$/);
    assert.deepEqual(digests, [digests[0], digests[0], digests[0]]);
  });

  it('replicas beyond the device count share a device: 2 on one cuda-emu device give the weights of 2 on two', function () {
    if (!availableBackends().includes('cuda-emu')) this.skip();
    // The emulator is slow: 2 steps of 1 image per replica.
    const shared = replicaWeightsDigest('cuda-emu', { CORNERNET_EMU_DEVICES: '1' }, 2, 1);
    const apart = replicaWeightsDigest('cuda-emu', { CORNERNET_EMU_DEVICES: '2' }, 2, 1);
    assert.match(shared, /^[0-9a-f]{64}$/);
    assert.equal(shared, apart);
  });

  it('stops on a NaN loss, names the term and the iteration, and changes no weight', async () => {
    const good = batchOf([0, 1], 0);
    const bad = batchOf([0, 1], 1);
    bad.images.data.fill(NaN, 0, 100);
    const events: TrainerEvent[] = [];
    const t = new NativeTrainer({ model: tiny, seed: 1 }, (e) => events.push(e));
    try {
      t.feed(good);
      const before = await t.snapshot();
      t.feed(bad);
      t.feed(batchOf([0, 1], 2)); // dropped: nothing runs after a bad step
      const after = await t.snapshot();
      const nf = events.find((e) => e.type === 'nonfinite') as StepEvent;
      assert.ok(nf, JSON.stringify(events.map((e) => e.type)));
      assert.equal(nf.iter, 1);
      assert.match(nf.term!, /^det \(stack 0\)$/);
      assert.ok(events.some((e) => e.type === 'cancelled' && e.dropped === 1));
      for (const [k, v] of Object.entries(before.stateDict)) {
        if (!(v.data instanceof BigInt64Array)) assert.equal(maxDiff(v.data, after.stateDict[k]!.data as Float32Array), 0, k);
      }
    } finally {
      await t.close();
    }
  });

  it('rejects bad batches and options with errors naming the field', async () => {
    assert.throws(() => new NativeTrainer({ model: { ...tiny, numClasses: 0 } }, () => {}), /options\.model/);
    assert.throws(() => new NativeTrainer({ model: tiny, replicas: 0 }, () => {}), /options\.replicas/);
    const t = new NativeTrainer({ model: tiny }, () => {});
    try {
      const b = batchOf([0], 0);
      assert.throws(() => t.feed({ ...b, labels: [Int32Array.from([0, 7])] }), /image 0 box 1 has label 7, the model has 3 classes/);
      assert.throws(() => t.feed({ ...b, images: { data: b.images.data, shape: [1, 1, 64, 192] } }), /3 channels/);
      assert.throws(() => t.feed({ ...b, lr: -1 }), /batch\.lr/);
      await assert.rejects(t.load({ stateDict: {} }), /missing \(\d+\)/);
    } finally {
      await t.close();
    }
  });
});

describe('train/native_trainer: overfitting one batch', function () {
  this.timeout(180000);

  it('drives the total loss on one batch down by at least 10x within 400 steps', async () => {
    const batch = batchOf([0, 1], 0, 2e-3);
    let first = NaN;
    let best = Infinity;
    let steps = 0;
    const t = new NativeTrainer({ model: tiny, seed: 11 }, (e) => {
      if (e.type !== 'step') return;
      if (steps === 0) first = e.total;
      best = Math.min(best, e.total);
      steps++;
    });
    try {
      // Feed in rounds so the run stops as soon as the target is met.
      for (let round = 0; round < 20 && !(best <= first / 10); round++) {
        for (let i = 0; i < 20; i++) t.feed({ ...batch, iter: round * 20 + i });
        await t.snapshot();
      }
    } finally {
      await t.close();
    }
    assert.ok(best <= first / 10, `loss ${first} -> best ${best} after ${steps} steps`);
    assert.ok(steps >= 2);
  });
});
