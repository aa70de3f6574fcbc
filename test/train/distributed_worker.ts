// Run by test/train/distributed.test.ts under mpirun (2 ranks), one mode per run;
// rank 0 prints one line `RESULT <json>` for the test to check.
//   equivalence  2 ranks x B images train to the weights of 1 process x 2B images
//   configs      each rank resolves a config; rank 1's differs when asked to
// and, without mpirun, one process of a torchrun-style launch:
//   rendezvous   meets the others through MASTER_ADDR:MASTER_PORT and prints the id
// and one process holding both ranks of an NCCL group as threads (host NCCL, cuda-emu):
//   nccl-threads the bindings ncclUniqueId / ncclProcessGroup and 2 trainers on the two groups
// and, under mpirun or torchrun-style, GPU ranks on cuda-emu (host NCCL across processes):
//   gpu-equivalence  joinRanks('cuda-emu'): 2 ranks x 1 image against 1 process x 2 images
import { randomBytes } from 'crypto';

import { native } from '../../lib/native';
import { detectLaunch, joinRanks, type ProcessGroup } from '../../lib/train/distributed';
import { rendezvous, UNIQUE_ID_BYTES } from '../../lib/train/rendezvous';
import { NativeTrainer, type NativeTrainerOptions, type TrainBatch, type TrainerState } from '../../lib/train/native_trainer';
import { batchOf, tiny } from './tiny_batches';

async function run(opts: NativeTrainerOptions, batches: TrainBatch[], sync: boolean, load?: TrainerState): Promise<{ state: TrainerState; totals: number[]; norms: number[] }> {
  const totals: number[] = [], norms: number[] = [];
  const t = new NativeTrainer(opts, (e) => {
    if (e.type === 'step') totals.push(e.total), norms.push(e.gradNorm);
    if (e.type === 'error' || e.type === 'nonfinite') throw new Error(JSON.stringify(e));
  });
  try {
    if (load) await t.load(load);
    if (sync) await t.syncFromRoot();
    for (const b of batches) t.feed(b);
    return { state: await t.snapshot(), totals, norms };
  } finally {
    await t.close();
  }
}

/**
 * A fingerprint of the weights and Adam moments. BN running statistics are left out:
 * each rank updates its own from its own images (no SyncBN, as the reference's
 * DistributedDataParallel with broadcast_buffers=False).
 */
function checksum(s: TrainerState): number {
  let sum = 0;
  const add = (k: string, data: Float32Array) => {
    for (let i = 0; i < data.length; i++) sum += data[i]! * (1 + (i % 7)) * (k.length % 5 + 1);
  };
  for (const [k, v] of Object.entries(s.stateDict)) if (v.data instanceof Float32Array && !/running_(mean|var)$/.test(k)) add(k, v.data);
  for (const [k, v] of Object.entries(s.optimizer)) add(k, v.expAvg.data), add(k, v.expAvgSq.data);
  return sum;
}

async function equivalence(replicas: number): Promise<void> {
  const ranks = await joinRanks('cpu');
  const group = ranks.group!;
  // Pull/push are summed over a replica's images, so only the positive-count
  // normalised terms average identically across layouts (as in the replica test).
  const opts = { model: tiny, frozenBn: true, loss: { pullWeight: 0, pushWeight: 0 } };
  const K = 4;
  const per = replicas; // images per rank and step
  const images = (i: number) => Array.from({ length: 2 * per }, (_, k) => 2 * per * i + k);
  // Each rank starts from a different seed: the first syncFromRoot must make them rank 0's.
  const mine = await run(
    { ...opts, seed: 7 + ranks.rank, group, replicas },
    Array.from({ length: K }, (_, i) => batchOf(images(i).slice(ranks.rank * per, (ranks.rank + 1) * per), i)),
    true,
  );
  const sums = new Float64Array(2);
  sums[ranks.rank] = checksum(mine.state);
  const both = await group.allReduceSumHost(sums);
  if (!ranks.isRoot) return;
  const single = await run({ ...opts, seed: 7 }, Array.from({ length: K }, (_, i) => batchOf(images(i), i)), false);
  let worst = 0;
  for (const [k, v] of Object.entries(single.state.stateDict)) {
    if (v.data instanceof BigInt64Array) continue;
    const w = mine.state.stateDict[k]!.data as Float32Array;
    for (let i = 0; i < v.data.length; i++) worst = Math.max(worst, Math.abs(v.data[i]! - w[i]!));
  }
  let adamWorst = 0;
  for (const [k, v] of Object.entries(single.state.optimizer)) {
    const w = mine.state.optimizer[k]!;
    if (w.step !== v.step) adamWorst = Infinity;
    for (let i = 0; i < v.expAvg.data.length; i++) adamWorst = Math.max(adamWorst, Math.abs(v.expAvg.data[i]! - w.expAvg.data[i]!));
  }
  console.log(`RESULT ${JSON.stringify({ worst, adamWorst, ranksAgree: both[0] === both[1], single: single.totals, ranks: mine.totals, singleNorms: single.norms, rankNorms: mine.norms })}`);
}

/**
 * 4 steps in one go against 2 steps, then a new trainer on each rank (another seed)
 * of which rank 0 alone loads the state, syncFromRoot, and 2 more: every rank must
 * end with the uninterrupted weights, which needs rank 0's Adam state on rank 1.
 */
async function resumed(): Promise<void> {
  const ranks = await joinRanks('cpu');
  const group = ranks.group!;
  const opts = { model: tiny, group };
  const batches = Array.from({ length: 4 }, (_, i) => batchOf([2 * i + ranks.rank], i, 2e-3));
  const whole = await run({ ...opts, seed: 3 }, batches, true);
  const first = await run({ ...opts, seed: 3 }, batches.slice(0, 2), true);
  const rest = await run({ ...opts, seed: 50 + ranks.rank }, batches.slice(2), true, ranks.isRoot ? first.state : undefined);
  const sums = new Float64Array(4);
  sums[ranks.rank] = checksum(whole.state);
  sums[2 + ranks.rank] = checksum(rest.state);
  const all = await group.allReduceSumHost(sums);
  if (ranks.isRoot) console.log(`RESULT ${JSON.stringify({ whole: [all[0], all[1]], resumed: [all[2], all[3]] })}`);
}

async function configs(differ: boolean): Promise<void> {
  const ranks = await joinRanks('cpu');
  const config = { train: { batchSize: 2, seed: 0 }, data: { inputSize: differ && ranks.rank === 1 ? 96 : 64 } };
  try {
    await ranks.checkSameConfig(config);
    console.log(`RESULT ${JSON.stringify({ rank: ranks.rank, ok: true })}`);
  } catch (e) {
    console.log(`RESULT ${JSON.stringify({ rank: ranks.rank, ok: false, message: (e as Error).message })}`);
  }
}

async function meet(timeoutMs: number): Promise<void> {
  const l = detectLaunch();
  if (l.kind !== 'torchrun') throw new Error(`not a torchrun-style launch: ${JSON.stringify(l)}`);
  const id = await rendezvous({ ...l, worldSize: l.size, uniqueId: l.rank === 0 ? randomBytes(UNIQUE_ID_BYTES) : undefined, timeoutMs });
  console.log(`RESULT ${JSON.stringify({ rank: l.rank, id: Buffer.from(id).toString('hex') })}`);
}

// A smaller network than `tiny`: the emulator runs every kernel on the host.
const emuModel = { ...tiny, numStacks: 1, downsampleTimes: 1, stageChannels: [4, 8], stageBlocks: [1, 1], featChannel: 4, poolFeatChannels: 4, headFeatChannels: 4 };

/** Weights of `a` against `b`, largest absolute difference (BN running statistics left out: per rank). */
function weightDifference(a: TrainerState, b: TrainerState): number {
  let worst = 0;
  for (const [k, v] of Object.entries(a.stateDict)) {
    if (v.data instanceof BigInt64Array || /running_(mean|var)$/.test(k)) continue;
    const w = b.stateDict[k]!.data as Float32Array;
    for (let i = 0; i < v.data.length; i++) worst = Math.max(worst, Math.abs(v.data[i]! - w[i]!));
  }
  return worst;
}

/**
 * GPU ranks of separate processes through the whole wiring (joinRanks: device of
 * the local rank, the unique id by MPI or the rendezvous, ncclProcessGroup), on
 * cuda-emu with the host NCCL's cross-process mode: 2 steps of 1 image per rank
 * against 1 process with both images.
 */
async function gpuEquivalence(): Promise<void> {
  const ranks = await joinRanks('cuda-emu');
  const opts = { model: emuModel, frozenBn: true, loss: { pullWeight: 0, pushWeight: 0 } };
  const K = 2;
  const mine = await run({ ...opts, seed: 7 + ranks.rank, group: ranks.group!, backend: ranks.backend! },
    Array.from({ length: K }, (_, i) => batchOf([2 * i + ranks.rank], i)), true);
  const sums = new Float64Array(2);
  sums[ranks.rank] = checksum(mine.state);
  const both = await ranks.group!.allReduceSumHost(sums);
  if (!ranks.isRoot) return;
  const single = await run({ ...opts, seed: 7, backend: 'cuda-emu' }, Array.from({ length: K }, (_, i) => batchOf([2 * i, 2 * i + 1], i)), false);
  console.log(`RESULT ${JSON.stringify({ backend: ranks.backend, describe: ranks.describe(), worst: weightDifference(single.state, mine.state),
    ranksAgree: both[0] === both[1], single: single.totals, ranks: mine.totals })}`);
}

/**
 * Both ranks of an NCCL process group in this one process (threads, as
 * cornernet_cuda_check nccl-group does), on cuda-emu:0 and cuda-emu:1 with the
 * host-memory NCCL (CORNERNET_EMU_NCCL, CORNERNET_EMU_DEVICES=2): the groups the
 * bindings make, their host collectives, and 2 trainers x 1 image against 1 x 2.
 */
async function ncclThreads(): Promise<void> {
  const n = native() as unknown as {
    ncclUniqueId(backend: string): Uint8Array;
    ncclProcessGroup(o: { rank: number; size: number; uniqueId: Uint8Array; backend: string; timeoutSeconds: number }): Promise<ProcessGroup>;
  };
  const uniqueId = n.ncclUniqueId('cuda-emu:0');
  const groups = await Promise.all([0, 1].map((rank) => n.ncclProcessGroup({ rank, size: 2, uniqueId, backend: `cuda-emu:${rank}`, timeoutSeconds: 60 })));
  const sums = await Promise.all(groups.map((g) => g.allReduceSumHost(Float64Array.from([g.rank + 1, 0.5]))));
  const bytes = await Promise.all(groups.map((g) => g.broadcastHost(Uint8Array.from(g.rank === 1 ? [7, 8, 9] : [0, 0, 0]), 1)));
  await Promise.all(groups.map((g) => g.barrier()));
  const errors: string[] = [];
  for (const bad of [
    () => n.ncclProcessGroup({ rank: 0, size: 2, uniqueId: uniqueId.slice(1), backend: 'cuda-emu:0', timeoutSeconds: 1 }),
    () => n.ncclProcessGroup({ rank: 0, size: 2, uniqueId, backend: 'cpu', timeoutSeconds: 1 }),
    () => n.ncclProcessGroup({ rank: 2, size: 2, uniqueId, backend: 'cuda-emu:0', timeoutSeconds: 1 }),
  ]) {
    try {
      await bad();
      errors.push('no error');
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  // Same scheme as equivalence(): rank r trains on image r of each step, one process on both.
  const opts = { model: emuModel, frozenBn: true, loss: { pullWeight: 0, pushWeight: 0 } };
  const K = 2;
  const mine = await Promise.all(groups.map((group, r) =>
    run({ ...opts, seed: 7 + r, group, backend: `cuda-emu:${r}` }, Array.from({ length: K }, (_, i) => batchOf([2 * i + r], i)), true),
  ));
  const single = await run({ ...opts, seed: 7, backend: 'cuda-emu:0' }, Array.from({ length: K }, (_, i) => batchOf([2 * i, 2 * i + 1], i)), false);
  const worst = Math.max(...mine.map((m) => weightDifference(single.state, m.state)));
  console.log(`RESULT ${JSON.stringify({
    names: groups.map((g) => g.name), ranks: groups.map((g) => [g.rank, g.size]),
    sums: sums.map((x) => [...x]), bytes: bytes.map((x) => [...x]), errors, worst, single: single.totals, threads: mine.map((m) => m.totals),
  })}`);
}

const mode = process.argv[2];
const modes: Record<string, () => Promise<void>> = {
  equivalence: () => equivalence(Number(process.argv[3] ?? 1)),
  resumed,
  configs: () => configs(process.argv[3] === 'differ'),
  rendezvous: () => meet(Number(process.argv[3] ?? 30000)),
  'nccl-threads': ncclThreads,
  'gpu-equivalence': gpuEquivalence,
};
(modes[mode ?? ''] ?? (() => Promise.reject(new Error(`unknown mode ${mode}`))))().catch((e: Error) => {
  process.stderr.write(`worker: ${e.stack}\n`);
  process.exitCode = 1;
});
