// GPU ranks, tested without a GPU as far as that goes: which device each rank
// takes; the NCCL bindings (ncclUniqueId, ncclProcessGroup) with both ranks as
// threads of one process on the host-memory NCCL; GPU ranks of 2 processes
// through the whole wiring (joinRanks: the id by the rendezvous or by MPI) on the
// host NCCL's cross-process mode (its collectives go through files of a shared
// directory), against one process; and `cornernet train --device cuda-emu` as 2
// processes, torchrun-style and under mpirun, reaching the dlopen of libnccl and
// stopping there with each rank's message saying what to install.
import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

import { native, packageRoot } from '../../lib/native';
import { gpuRankBackend, type Launch } from '../../lib/train/distributed';
import { checkTool } from '../native/cuda_check_tool';

const CLI = path.join(packageRoot, 'bin', 'cornernet.js');
const WORKER = path.join(__dirname, 'distributed_worker.js');
const MPIRUN = spawnSync('sh', ['-c', 'command -v mpirun'], { encoding: 'utf8' }).stdout.trim();
const hostNccl = path.join(path.dirname(checkTool), 'libcornernet_host_nccl.so');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function runNode(args: string[], env: NodeJS.ProcessEnv, command = process.execPath): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, out });
    });
  });
}

describe('train/distributed nccl: the device of a GPU rank', () => {
  const at = (localRank: number): Exclude<Launch, { kind: 'single' }> => ({ kind: 'torchrun', rank: 2 + localRank, size: 4, localRank, masterAddr: 'h', masterPort: 1 });
  const gpus = (count: number) => () => ({ count, why: count ? '' : 'no CUDA driver' });

  it('cuda and cuda-emu take the local rank\'s device; cuda:N as named; cpu and auto without a GPU stay on the CPU', () => {
    assert.equal(gpuRankBackend('cuda', at(1), gpus(2)), 'cuda:1');
    assert.equal(gpuRankBackend('cuda-emu', at(1), gpus(2)), 'cuda-emu:1');
    assert.equal(gpuRankBackend('auto', at(0), gpus(2)), 'cuda:0');
    assert.equal(gpuRankBackend('cuda:3', at(1), gpus(0)), 'cuda:3');
    assert.equal(gpuRankBackend('cpu', at(1), gpus(8)), null);
    assert.equal(gpuRankBackend('auto', at(1), gpus(0)), null);
  });

  it('a local rank without a GPU of its own is an error naming the rank and the count', () => {
    assert.throws(() => gpuRankBackend('cuda', at(2), gpus(2)), /^Error: rank 4 of 4: --device cuda gives local rank 2 cuda:2, but this machine has 2 GPUs: start at most 2 ranks per machine, one GPU each$/);
    assert.throws(() => gpuRankBackend('cuda', at(0), gpus(0)), /^Error: rank 2 of 4: --device cuda: this machine has no usable GPU: no CUDA driver$/);
    assert.throws(() => gpuRankBackend('cuda-emu', at(1), gpus(1)), /rank 3 of 4: .*cuda-emu:1, but this machine has 1 GPU: start at most 1 rank per machine, one GPU each \(CORNERNET_EMU_DEVICES sets the emulator's count\)$/);
  });
});

describe('train/distributed nccl: both ranks as threads of one process (host NCCL on cuda-emu)', function () {
  this.timeout(60000);
  before(function () {
    if (!native().info().cudaEmu.loaded) this.skip();
    assert.ok(fs.existsSync(hostNccl), `${hostNccl} is missing: build the native code (CORNERNET_TEST_TOOLS=ON)`);
  });

  it('ncclProcessGroup makes groups that sum and broadcast host values, and trainers on them match one process', async () => {
    const r = await runNode([WORKER, 'nccl-threads'], { CORNERNET_EMU_DEVICES: '2', CORNERNET_EMU_NCCL: hostNccl, CORNERNET_NUM_THREADS: '1' });
    assert.equal(r.code, 0, r.out);
    const res = JSON.parse(r.out.split('\n').find((l) => l.startsWith('RESULT '))!.slice(7)) as {
      names: string[]; ranks: number[][]; sums: number[][]; bytes: number[][]; errors: string[]; worst: number; single: number[]; threads: number[][];
    };
    assert.deepEqual(res.names, ['nccl 0.0.0', 'nccl 0.0.0']);
    assert.deepEqual(res.ranks, [[0, 2], [1, 2]]);
    assert.deepEqual(res.sums, [[3, 1], [3, 1]]);
    assert.deepEqual(res.bytes, [[7, 8, 9], [7, 8, 9]]);
    assert.match(res.errors[0]!, /uniqueId must be a Uint8Array of 128 bytes/);
    assert.match(res.errors[1]!, /backend 'cpu' is not a CUDA device/);
    assert.match(res.errors[2]!, /rank 2 of 2 is not valid/);
    // Both ranks apply the same update: rank 0's weights are rank 1's, and those of 1 process x 2 images.
    assert.ok(res.worst < 1e-5, `max weight difference ${res.worst}`);
    for (const t of res.threads) t.forEach((v, i) => assert.ok(Math.abs(v - res.single[i]!) < 1e-5 * Math.abs(res.single[i]!), `losses ${JSON.stringify(res)}`));
  });
});

describe('train/distributed nccl: GPU ranks of 2 processes on cuda-emu (host NCCL across processes)', function () {
  this.timeout(60000);
  let dir = '';
  before(function () {
    if (!native().info().cudaEmu.loaded) this.skip();
    assert.ok(fs.existsSync(hostNccl), `${hostNccl} is missing: build the native code (CORNERNET_TEST_TOOLS=ON)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-gpu-ranks-'));
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));
  // TMPDIR: where rank 0's host NCCL makes the directory its id names.
  const env = () => ({ CORNERNET_EMU_DEVICES: '2', CORNERNET_EMU_NCCL: hostNccl, CORNERNET_HOST_NCCL_PROCESSES: '1', CORNERNET_HOST_NCCL_WAIT_S: '30', TMPDIR: dir, CORNERNET_NUM_THREADS: '1' });
  type Res = { backend: string; describe: string; worst: number; ranksAgree: boolean; single: number[]; ranks: number[] };
  const check = (out: string) => {
    const res = JSON.parse(out.split('\n').find((l) => l.startsWith('RESULT '))!.slice(7)) as Res;
    assert.equal(res.backend, 'cuda-emu:0');
    assert.equal(res.describe, '2 ranks (nccl 0.0.0)');
    assert.ok(res.ranksAgree, out);
    assert.ok(res.worst < 1e-5, `max weight difference ${res.worst}`);
    res.ranks.forEach((v, i) => assert.ok(Math.abs(v - res.single[i]!) < 1e-5 * Math.abs(res.single[i]!), out));
  };

  it('torchrun-style: the rendezvous hands out rank 0\'s id, 2 ranks x 1 image train to the weights of 1 process x 2 images', async () => {
    const port = await freePort();
    const rankEnv = (rank: number) => ({ ...env(), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: '2', RANK: String(rank), LOCAL_RANK: String(rank) });
    const [a, b] = await Promise.all([runNode([WORKER, 'gpu-equivalence'], rankEnv(0)), runNode([WORKER, 'gpu-equivalence'], rankEnv(1))]);
    assert.equal(a.code, 0, a.out);
    assert.equal(b.code, 0, b.out);
    check(a.out);
  });

  it('mpirun -np 2: MPI broadcasts the id, the same weights (skipped without mpirun)', async function () {
    if (!MPIRUN) this.skip();
    const r = await runNode(['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, WORKER, 'gpu-equivalence'], env(), MPIRUN);
    assert.equal(r.code, 0, r.out);
    check(r.out);
  });
});

describe('train/distributed nccl: GPU ranks of 2 processes reach the dlopen of libnccl', function () {
  this.timeout(60000);
  // The emulator dlopens the file CORNERNET_EMU_NCCL names; one that is not there fails as a
  // machine without NCCL fails on libnccl.so.2.
  let missing = '';
  before(function () {
    if (!native().info().cudaEmu.loaded) this.skip();
    missing = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cn-no-nccl-')), 'libnccl.so.2');
  });
  after(() => missing && fs.rmSync(path.dirname(missing), { recursive: true, force: true }));
  const emuEnv = () => ({ CORNERNET_EMU_DEVICES: '2', CORNERNET_EMU_NCCL: missing, CORNERNET_NUM_THREADS: '1' });
  const missingNccl = (rank: number) =>
    new RegExp(`rank ${rank} of 2: GPU ranks sum their gradients with NCCL, which is not available on cuda-emu:${rank}: not found \\(tried ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*cannot open shared object file.*\\); install NCCL 2 .*pip install nvidia-nccl-cu13.*LD_LIBRARY_PATH.*libnccl2`);

  it('torchrun-style: each rank takes cuda-emu:LOCAL_RANK and says NCCL is missing, naming itself and what to install', async () => {
    const port = await freePort();
    const env = (rank: number) => ({ ...emuEnv(), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: '2', RANK: String(rank), LOCAL_RANK: String(rank) });
    const args = [CLI, 'train', '--device', 'cuda-emu', '--max-iters', '1'];
    const [a, b] = await Promise.all([runNode(args, env(0)), runNode(args, env(1))]);
    assert.equal(a.code, 1, a.out);
    assert.equal(b.code, 1, b.out);
    assert.match(a.out, missingNccl(0));
    assert.match(b.out, missingNccl(1));
  });

  it('torchrun-style: more local ranks than devices, --replicas 2, and no GPU at all are refused before any rank meets', async () => {
    const env = { ...emuEnv(), CORNERNET_EMU_DEVICES: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1', WORLD_SIZE: '2', RANK: '1', LOCAL_RANK: '1' };
    const few = await runNode([CLI, 'train', '--device', 'cuda-emu', '--max-iters', '1'], env);
    assert.equal(few.code, 1, few.out);
    assert.match(few.out, /rank 1 of 2: --device cuda-emu gives local rank 1 cuda-emu:1, but this machine has 1 GPU: start at most 1 rank per machine, one GPU each/);
    const replicas = await runNode([CLI, 'train', '--device', 'cuda-emu', '--replicas', '2', '--max-iters', '1'], { ...env, CORNERNET_EMU_DEVICES: '2' });
    assert.equal(replicas.code, 1, replicas.out);
    assert.match(replicas.out, /rank 1 of 2: --replicas 2 with GPU ranks: each rank trains on one GPU \(cuda-emu:1\); start one rank per GPU/);
    if (native().info().cuda.status !== 'ok') {
      // No plugin, driver or device here: --device cuda says so, naming the rank.
      const none = await runNode([CLI, 'train', '--device', 'cuda', '--max-iters', '1'], env);
      assert.equal(none.code, 1, none.out);
      assert.match(none.out, /rank 1 of 2: --device cuda: this machine has no usable GPU: \S/);
    }
  });

  it('mpirun -np 2: the same message from the ranks (skipped without mpirun)', async function () {
    if (!MPIRUN) this.skip();
    const r = await runNode(['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, CLI, 'train', '--device', 'cuda-emu', '--max-iters', '1'], emuEnv(), MPIRUN);
    assert.notEqual(r.code, 0, r.out);
    assert.ok(missingNccl(0).test(r.out) || missingNccl(1).test(r.out), r.out);
  });
});
