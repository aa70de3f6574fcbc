// Several GPU replicas on NCCL, tested without a GPU up to the dlopen boundary:
// the bucket assignment and the launch schedule (native/train/grad_buckets.h),
// the whole bucketed, overlapped all-reduce path of the trainer on 2 emulated
// devices (CORNERNET_EMU_DEVICES=2) with a host-memory NCCL standing in for
// libnccl (test-tools' libcornernet_host_nccl.so, CORNERNET_EMU_NCCL), against
// the host-copy communicator the same replicas use without NCCL; and the NCCL
// ProcessGroup of several processes through the plugin's entry points (ranks as
// threads of cornernet_cuda_check: the host NCCL joins them by the unique id).
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { native } from '../../lib/native';
import { checkTool, runTool } from '../native/cuda_check_tool';

describe('train/nccl replicas: gradient buckets', () => {
  it('packs parameters in reverse order up to the cap; an oversized one alone; buffers skipped', () => {
    // entries: 0 p 10 floats, 1 buffer, 2 p 3, 3 p 30, 4 p 2, 5 p 5
    const numel = [10, 4, 3, 30, 2, 5];
    const isParam = [true, false, true, true, true, true];
    // 52 bytes: 5+2 floats fit (28 B); 30 floats exceed any bucket (alone); then 3 + 10 floats = 52 B.
    assert.deepEqual(native().gradBuckets(numel, isParam, 52), [[5, 4], [3], [2, 0]]);
    assert.deepEqual(native().gradBuckets(numel, isParam, 40), [[5, 4], [3], [2], [0]]);
    assert.deepEqual(native().gradBuckets(numel, isParam, 1 << 20), [[5, 4, 3, 2, 0]]);
    assert.deepEqual(native().gradBuckets(numel, isParam, 4), [[5], [4], [3], [2], [0]]);
    // Deterministic: the same input, the same buckets.
    assert.deepEqual(native().gradBuckets(numel, isParam, 60), native().gradBuckets(numel, isParam, 60));
    assert.throws(() => native().gradBuckets(numel, isParam.slice(1), 40), /6 sizes but 5 parameter flags/);
    assert.throws(() => native().gradBuckets(numel, isParam, 2), /at least 4 bytes/);
  });

  it('after a first step, rebuilds the buckets in the order the gradients arrived (parameters without one last)', () => {
    const numel = [10, 4, 3, 30, 2, 5];
    const isParam = [true, false, true, true, true, true];
    assert.deepEqual(native().gradBuckets(numel, isParam, 52, [2, 0, 5, 4]), [[2, 0], [5, 4], [3]]);
    assert.throws(() => native().gradBuckets(numel, isParam, 52, [1]), /entry 1 is not a parameter/);
  });

  it('launches a bucket when complete and every earlier one is launched, in order', () => {
    const buckets = [[5, 4], [3], [2, 0]];
    // Backward order: 5, 4 (bucket 0 ready), 2 (bucket 2 waits for 1), 3 (1 and 2 go), 0.
    const s = native().bucketSchedule(buckets, 6, [5, 4, 2, 3, 0]);
    assert.deepEqual(s.launches, [[], [0], [], [1], [2]]);
    assert.deepEqual(s.remaining, []);
    // A parameter without a gradient (entry 3): buckets 1 and 2 wait for the end of backward.
    const t = native().bucketSchedule(buckets, 6, [4, 5, 2, 0]);
    assert.deepEqual(t.launches, [[], [0], [], []]);
    assert.deepEqual(t.remaining, [1, 2]);
  });

  it('refuses a gradient produced twice in one backward, and an entry in no bucket', () => {
    assert.throws(() => native().bucketSchedule([[1, 0]], 2, [1, 1]), /produced twice in one backward/);
    assert.throws(() => native().bucketSchedule([[1]], 3, [2]), /entry 2 is not a bucketed parameter/);
  });
});

// The trainer's 2-replica run on cuda-emu in a child process (NCCL is loaded
// once per process): weights, the allReduce figures of the step events, stderr.
interface ChildResult {
  weights: Record<string, number[]>;
  allReduce: ({ buckets: number; duringBackward: number } | null)[]; // null: not bucketed (JSON of undefined)
  libraries: { name: string; found: boolean; message: string }[];
  stderr: string;
}

// Asynchronous, so the two runs compared below share the machine's cores.
function trainChild(env: Record<string, string>, bucketBytes: number, steps = 2): Promise<ChildResult> {
  const script = `
    const { NativeTrainer } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/train/native_trainer.js'))});
    const { native } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/native.js'))});
    const tiny = { numStacks: 1, downsampleTimes: 1, stageChannels: [4, 8], stageBlocks: [1, 1], featChannel: 4,
                   numClasses: 2, poolFeatChannels: 4, headFeatChannels: 4, cornerEmbChannels: 1 };
    const H = 16, W = 16;
    const batch = (iter) => {
      const data = Float32Array.from({ length: 2 * 3 * H * W }, (_, i) => Math.sin(i * 0.031 + iter * 0.7));
      return { images: { data, shape: [2, 3, H, W] }, lr: 1e-2, iter,
               boxes: [Float32Array.from([1, 2, 10, 9]), Float32Array.from([3, 2, 14, 15])],
               labels: [Int32Array.from([0]), Int32Array.from([1])] };
    };
    (async () => {
      const events = [];
      const t = new NativeTrainer({ model: tiny, replicas: 2, backend: 'cuda-emu', seed: 4, frozenBn: true,
                                   allReduceBucketBytes: ${bucketBytes} }, (e) => events.push(e));
      for (let i = 0; i < ${steps}; i++) t.feed(batch(i));
      const s = await t.snapshot();
      await t.close();
      const weights = {};
      for (const [k, v] of Object.entries(s.stateDict)) if (v.data instanceof Float32Array) weights[k] = Array.from(v.data);
      const bad = events.find((e) => e.type !== 'step');
      if (bad) throw new Error(JSON.stringify(bad));
      process.stdout.write(JSON.stringify({ weights, allReduce: events.map((e) => e.allReduce ?? null),
                                            libraries: native().backendInfo('cuda-emu').libraries }));
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  const child = spawn(process.execPath, ['-e', script], {
    timeout: 110_000,
    env: { ...process.env, CORNERNET_EMU_DEVICES: '2', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0) reject(new Error(`child exited with ${status}: ${stderr}`));
      else resolve({ ...(JSON.parse(stdout) as Omit<ChildResult, 'stderr'>), stderr });
    });
  });
}

describe('train/nccl replicas: bucketed all-reduce on 2 cuda-emu devices (host-memory NCCL)', function () {
  this.timeout(240_000);
  const hostNccl = path.join(path.dirname(checkTool), 'libcornernet_host_nccl.so');

  before(function () {
    if (!native().info().cudaEmu.loaded) this.skip();
    assert.ok(fs.existsSync(hostNccl), `${hostNccl} is missing: build the native code (CORNERNET_TEST_TOOLS=ON)`);
  });

  it('gives the weights of the host-copy communicator after 2 steps, buckets started during backward', async () => {
    // 2 KiB buckets: the tiny model's parameters fill several.
    const [hostCopy, bucketed] = await Promise.all([trainChild({}, 25 << 20), trainChild({ CORNERNET_EMU_NCCL: hostNccl }, 2048)]);
    // Without NCCL: the replicas fall back to host copies and say so once.
    assert.match(hostCopy.stderr, /2 CUDA replicas synchronise through host copies \(slower\): .*NCCL is not available: not loaded on the CUDA emulator/);
    assert.equal(hostCopy.stderr.match(/synchronise through host copies/g)!.length, 1);
    assert.deepEqual(hostCopy.allReduce, [null, null]);

    assert.doesNotMatch(bucketed.stderr, /host copies/);
    const nccl = bucketed.libraries.find((l) => l.name === 'NCCL')!;
    assert.equal(nccl.found, true, nccl.message);
    // Step 1 in reverse registration order: the head's branches arrive in another
    // order, so fewer buckets can start early. Step 2 uses the buckets rebuilt from
    // step 1's arrival order: every bucket starts during backward except those
    // holding only parameters no gradient reaches (the one-stack model's unused
    // `inters` block), which go at the end.
    const [first, second] = bucketed.allReduce;
    const text = JSON.stringify(bucketed.allReduce);
    assert.ok(first && first.buckets >= 3 && first.duringBackward >= 1, text);
    assert.ok(second && second.buckets >= 3 && second.duringBackward > first.duringBackward, text);
    assert.ok(second.buckets - second.duringBackward <= 2, text);
    let worst = 0;
    for (const [k, v] of Object.entries(hostCopy.weights)) {
      const w = bucketed.weights[k]!;
      assert.equal(w.length, v.length, k);
      for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i]! - w[i]!) / (1e-6 + Math.abs(v[i]!)));
    }
    assert.ok(worst < 1e-5, `max relative weight difference ${worst}`);
  });

  it('CORNERNET_NCCL=0 leaves NCCL unloaded and says so', async () => {
    // The trainer picks its communicator when it is made: no step needed.
    const off = await trainChild({ CORNERNET_EMU_NCCL: hostNccl, CORNERNET_NCCL: '0' }, 2048, 0);
    const nccl = off.libraries.find((l) => l.name === 'NCCL')!;
    assert.equal(nccl.found, false);
    assert.match(nccl.message, /^disabled by CORNERNET_NCCL=0; several GPU replicas synchronise through host copies/);
    assert.match(off.stderr, /synchronise through host copies \(slower\): .*disabled by CORNERNET_NCCL=0/);
  });
});

interface GroupOut {
  name: string;
  ranks: { rank: number; sum: number[]; host: number[]; bytes: string; error: string }[];
}

describe('train/nccl process group through the cuda-emu plugin (host-memory NCCL)', function () {
  this.timeout(60_000);
  const hostNccl = path.join(path.dirname(checkTool), 'libcornernet_host_nccl.so');
  let plugin = '';

  before(function () {
    const emu = native().info().cudaEmu;
    if (!emu.loaded) this.skip();
    plugin = emu.path;
  });

  function group(ranks: number, dead: number, env: Record<string, string> = {}): GroupOut {
    const r = runTool(['nccl-group', plugin, String(ranks), String(dead)], {
      CORNERNET_EMU_DEVICES: String(ranks),
      CORNERNET_EMU_NCCL: hostNccl,
      ...env,
    });
    assert.equal(r.status, 0, `nccl-group exited with ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as GroupOut;
  }

  it('sums device and host values over 3 ranks, broadcasts host bytes, passes a barrier', () => {
    const out = group(3, -1);
    assert.equal(out.name, 'nccl 0.0.0');
    for (const r of out.ranks) {
      assert.equal(r.error, '', `rank ${r.rank}`);
      // rank r holds r + 1 + i/8: the sum is 6 + 3i/8.
      assert.deepEqual(r.sum, Array.from({ length: 8 }, (_, i) => 6 + (3 * i) / 8));
      assert.deepEqual(r.host, [3, 1.5]);
      assert.equal(r.bytes, 'root2');
    }
  });

  it('a rank that never takes part: the others abort and name their rank instead of hanging', () => {
    const out = group(2, 1, { CORNERNET_HOST_NCCL_WAIT_S: '0.5' });
    assert.match(out.ranks[0]!.error, /^NCCL: rank 0 of 2: all-reduce of the gradients failed: remote process exited.*a peer rank stopped.*aborted/);
    assert.deepEqual(out.ranks[0]!.sum, []);
  });

  it('without NCCL, the unique id request fails saying why', () => {
    const r = runTool(['nccl-group', plugin, '2', '-1'], { CORNERNET_EMU_DEVICES: '2', CORNERNET_EMU_NCCL: '' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /NCCL unique id: NCCL is not available: not loaded on the CUDA emulator/);
  });
});
