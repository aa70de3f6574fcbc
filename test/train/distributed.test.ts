// Several processes training one model: 2 CPU ranks under mpirun against one
// process, a 2-rank CLI run resumed from rank 0's checkpoint, a rank that stops
// answering or dies, mismatched configs, the torchrun-style rendezvous on
// loopback, and the launch detection and data sharding they rest on.
import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

import { loadCoco } from '../../lib/data/coco_loader';
import { ensureSynthDataset } from '../../lib/data/synth_cache';
import { TrainLoader } from '../../lib/data/train_loader';
import { formatInfo, info } from '../../lib/info';
import { native, packageRoot } from '../../lib/native';
import { listCheckpoints, loadCheckpoint } from '../../lib/train/checkpoint';
import { canonicalJson, detectLaunch, firstDifference } from '../../lib/train/distributed';
import { SMALL, SMALL_SYNTH } from './small_run';

const CLI = path.join(packageRoot, 'bin', 'cornernet.js');
const WORKER = path.join(__dirname, 'distributed_worker.js');
const MPIRUN = spawnSync('sh', ['-c', 'command -v mpirun'], { encoding: 'utf8' }).stdout.trim();
// Open MPI refuses root without --allow-run-as-root and counts cores for slots (--oversubscribe);
// each rank takes one engine thread so that 2 ranks share the 2 cores of CI without fighting.
const MPI_FLAGS = ['--allow-run-as-root', '--oversubscribe', '-np', '2'];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  seconds: number;
}

/** Runs `mpirun -np 2 node ARGS`; `during(pids of the ranks by rank)` runs once both ranks have printed `ready` (if given). */
function mpirun(args: string[], env: NodeJS.ProcessEnv = {}, during?: { ready: RegExp; act: (rankPid: (r: number) => number) => void }): Promise<Run> {
  const t0 = Date.now();
  // Marks this job's ranks (they inherit mpirun's environment), so that no other job's process is signalled.
  const marker = `CN_DIST_TEST_RUN=${process.pid}-${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve) => {
    const child = spawn(MPIRUN, [...MPI_FLAGS, process.execPath, ...args], {
      env: { ...process.env, CORNERNET_NUM_THREADS: '1', ...env, CN_DIST_TEST_RUN: marker.split('=')[1] },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let acted = false;
    const onData = (d: Buffer) => {
      out += d.toString();
      if (during && !acted && during.ready.test(out)) {
        acted = true;
        during.act((r) => rankPid(marker, r));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const guard = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, out, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

/** The pid of rank `r` of the job whose processes carry `marker` in their environment. */
function rankPid(marker: string, r: number): number {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let env: string[];
    try {
      env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
    } catch {
      continue; // gone, or not ours to read
    }
    if (env.includes(marker) && (env.includes(`OMPI_COMM_WORLD_RANK=${r}`) || env.includes(`PMI_RANK=${r}`))) return Number(entry);
  }
  throw new Error(`rank ${r} of ${marker} not found`);
}

function results(out: string): Record<string, unknown>[] {
  return out.split('\n').filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Record<string, unknown>);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe('train/distributed: launch detection, config comparison, data shards', () => {
  it('tells mpirun (Open MPI, MPICH), torchrun-style and single launches apart, naming a missing variable', () => {
    assert.deepEqual(detectLaunch({}), { kind: 'single' });
    assert.deepEqual(detectLaunch({ OMPI_COMM_WORLD_SIZE: '1', OMPI_COMM_WORLD_RANK: '0' }), { kind: 'single' });
    assert.deepEqual(detectLaunch({ OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_LOCAL_RANK: '0' }), { kind: 'mpi', launcher: 'Open MPI', size: 4, rank: 2, localRank: 0 });
    assert.deepEqual(detectLaunch({ PMI_SIZE: '2', PMI_RANK: '1' }), { kind: 'mpi', launcher: 'MPICH', size: 2, rank: 1, localRank: 0 });
    assert.deepEqual(detectLaunch({ WORLD_SIZE: '2', RANK: '1', LOCAL_RANK: '1', MASTER_ADDR: 'h', MASTER_PORT: '29500' }), {
      kind: 'torchrun', size: 2, rank: 1, localRank: 1, masterAddr: 'h', masterPort: 29500,
    });
    assert.throws(() => detectLaunch({ WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: 'h' }), /WORLD_SIZE is 2 but MASTER_PORT is not set/);
    assert.throws(() => detectLaunch({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' }), /RANK 2 is not below WORLD_SIZE 2/);
    assert.throws(() => detectLaunch({ OMPI_COMM_WORLD_SIZE: 'two' }), /OMPI_COMM_WORLD_SIZE must be a non-negative integer, got 'two'/);
  });

  it('finds the first differing key of two configs, whatever their key order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: 0 } }), canonicalJson({ a: { c: 0, d: [1, { e: 3, f: 2 }] }, b: 1 }));
    assert.deepEqual(firstDifference({ a: { x: 1, y: [1, 2] } }, { a: { x: 1, y: [1, 3] } }), { path: 'config.a.y[1]', root: 2, mine: 3 });
    assert.deepEqual(firstDifference({ a: 1 }, { a: 1, b: 2 }), { path: 'config.b', root: undefined, mine: 2 });
    assert.equal(firstDifference({ a: [1] }, { a: [1] }), null);
  });

  it('shards every epoch: rank r takes the r-th block of each global batch of the shared order', async () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-dist-shard-'));
    try {
      const r = await ensureSynthDataset({ ...SMALL_SYNTH, train: 10 }, { root: cache });
      const ds = await loadCoco(path.join(r.dir, 'annotations', 'instances_train.json'), { imageDir: path.join(r.dir, 'train') });
      const whole = new TrainLoader(ds, { batchSize: 4, seed: 3 });
      const shards = [0, 1].map((rank) => new TrainLoader(ds, { batchSize: 2, seed: 3, shard: { rank, size: 2 } }));
      assert.equal(shards[0]!.batchesPerEpoch, 2); // 10 images, global batches of 4
      for (const epoch of [0, 1]) {
        const order = whole.order(epoch);
        const [a, b] = shards.map((s) => s.order(epoch));
        // Global batch k = rank 0's k-th block then rank 1's k-th block.
        for (let k = 0; k < 2; k++) assert.deepEqual([...a!.slice(2 * k, 2 * k + 2), ...b!.slice(2 * k, 2 * k + 2)], order.slice(4 * k, 4 * k + 4), `epoch ${epoch} batch ${k}`);
        assert.deepEqual([...a!, ...b!].sort(), [...order].sort());
      }
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });
});

/** The newest checkpoints of two work dirs hold the same iteration, weights and Adam moments, bit for bit. */
async function assertSameLast(got: string, want: string): Promise<void> {
  const a = await loadCheckpoint(listCheckpoints(want).at(-1)!);
  const b = await loadCheckpoint(listCheckpoints(got).at(-1)!);
  assert.equal(b.meta.iter, a.meta.iter);
  const bytes = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  for (const [k, v] of Object.entries(a.state.stateDict)) assert.ok(bytes(b.state.stateDict[k]!).equals(bytes(v)), `${k} differs`);
  for (const [k, v] of Object.entries(a.state.optimizer)) assert.ok(bytes(b.state.optimizer[k]!.expAvgSq).equals(bytes(v.expAvgSq)), `Adam moments of ${k} differ`);
}

describe('train/distributed: the MPI plugin missing or unloadable', function () {
  this.timeout(30000);
  const built = path.join(packageRoot, 'build', 'Release');
  let dir: string;
  before(function () {
    if (!fs.existsSync(path.join(built, 'cornernet.node'))) this.skip();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-dist-plugin-'));
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));
  // A copy of the addon in its own folder: the MPI plugin is looked for beside it.
  const tryGroup = (folder: string) => {
    fs.copyFileSync(path.join(built, 'cornernet.node'), path.join(folder, 'cornernet.node'));
    const addon = `require(${JSON.stringify(path.join(folder, 'cornernet.node'))})`;
    // info() first (what `cornernet info` shows), then the group itself.
    return spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(${addon}.info().mpi)); ${addon}.mpiProcessGroup({})`], { encoding: 'utf8' });
  };

  it('a build without it says to install Open MPI and rebuild', () => {
    const folder = fs.mkdtempSync(path.join(dir, 'none-'));
    const r = tryGroup(folder);
    assert.notEqual(r.status, 0);
    const shown = JSON.parse(r.stdout) as { available: boolean; message: string };
    assert.equal(shown.available, false);
    assert.match(shown.message, /no MPI support/);
    assert.match(r.stderr, /mpiProcessGroup: this build of cornernet-native has no MPI support \(no .*libcornernet_mpi\.so: no MPI was found when it was built\): install Open MPI \(apt-get install openmpi-bin libopenmpi-dev\) and rebuild/);
  });

  it('info() names the MPI library the plugin was built against', function () {
    if (!fs.existsSync(path.join(built, 'libcornernet_mpi.so'))) this.skip();
    const m = native().info().mpi;
    assert.ok(m.available, m.message);
    assert.match(m.library, /MPI/);
    assert.match(formatInfo(info()), /\nmpi: +.*MPI.* \(CPU ranks under mpirun\)/);
  });

  it('a plugin whose libmpi is gone names the library and says to install Open MPI', function () {
    // A stand-in plugin linked against a libmpi.so.99 that is then removed.
    const folder = fs.mkdtempSync(path.join(dir, 'gone-'));
    const cc = (args: string[]) => spawnSync('cc', args, { cwd: folder, encoding: 'utf8' });
    fs.writeFileSync(path.join(folder, 'fake.c'), 'int fake_mpi(void) { return 0; }\n');
    fs.writeFileSync(path.join(folder, 'plugin.c'), 'int fake_mpi(void);\nint cornernet_mpi_abi_version(void) { return fake_mpi(); }\n');
    const lib = cc(['-shared', '-fPIC', '-o', 'libmpi.so.99', '-Wl,-soname,libmpi.so.99', 'fake.c']);
    if (lib.status !== 0) this.skip(); // no C compiler: nothing to build the stand-in with
    assert.equal(cc(['-shared', '-fPIC', '-o', 'libcornernet_mpi.so', 'plugin.c', '-L.', '-l:libmpi.so.99']).status, 0);
    fs.rmSync(path.join(folder, 'libmpi.so.99'));
    const r = tryGroup(folder);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /mpiProcessGroup: cannot load .*libcornernet_mpi\.so: libmpi\.so\.99 not found: install Open MPI \(apt-get install openmpi-bin\)/);
  });
});

describe('train/distributed: ranks under mpirun', function () {
  this.timeout(60000);
  before(function () {
    if (!MPIRUN) {
      console.log('      (skipped: no mpirun on this machine; install Open MPI: apt-get install openmpi-bin libopenmpi-dev)');
      this.skip();
    }
  });

  for (const replicas of [1, 2]) {
    it(`2 CPU ranks x ${replicas} replica(s) x 1 image train to the weights of 1 process x ${2 * replicas} images (frozen BN), with the global losses and gradient norm`, async () => {
      const r = await mpirun([WORKER, 'equivalence', String(replicas)]);
      assert.equal(r.code, 0, r.out);
      const [res] = results(r.out) as { worst: number; adamWorst: number; ranksAgree: boolean; single: number[]; ranks: number[]; singleNorms: number[]; rankNorms: number[] }[];
      assert.ok(res, r.out);
      assert.ok(res.ranksAgree, 'the two ranks hold different weights');
      // The layouts sum the same gradients in another order (3x3 weight gradients go over
      // Winograd tiles in bands of the images a replica holds), and Adam divides each update
      // by the gradient's own size, so an entry whose gradient is near zero carries that
      // rounding into its weight: measured 1.3e-5 after 4 steps of lr 1e-3 with 2 replicas.
      assert.ok(res.worst < 3e-5, `max weight difference ${res.worst}`);
      assert.ok(res.adamWorst < 1e-6, `max Adam moment difference ${res.adamWorst}`);
      assert.equal(res.ranks.length, 4);
      res.single.forEach((l, i) => assert.ok(Math.abs(l - res.ranks[i]!) < 1e-5 * l, `loss of step ${i}: ${l} vs ${res.ranks[i]}`));
      res.singleNorms.forEach((n, i) => assert.ok(Math.abs(n - res.rankNorms[i]!) < 1e-4 * n, `gradient norm of step ${i}: ${n} vs ${res.rankNorms[i]}`));
    });
  }

  it('a trainer state loaded on rank 0 alone reaches every rank (weights, BN statistics, Adam moments): all continue as if uninterrupted', async () => {
    const r = await mpirun([WORKER, 'resumed']);
    assert.equal(r.code, 0, r.out);
    const [res] = results(r.out) as { whole: number[]; resumed: number[] }[];
    assert.ok(res, r.out);
    assert.equal(res.whole[0], res.whole[1], 'the uninterrupted ranks differ');
    assert.deepEqual(res.resumed, res.whole);
  });

  it('ranks with different configs all fail at start, the differing rank naming the key', async () => {
    const same = await mpirun([WORKER, 'configs']);
    assert.deepEqual(results(same.out).map((x) => x.ok), [true, true], same.out);
    const differ = await mpirun([WORKER, 'configs', 'differ']);
    const byRank = new Map(results(differ.out).map((x) => [x.rank as number, x]));
    assert.equal(byRank.size, 2, differ.out);
    assert.match(byRank.get(1)!.message as string, /rank 1: the resolved config differs from rank 0's at config\.data\.inputSize: 96 here, 64 on rank 0/);
    assert.match(byRank.get(0)!.message as string, /rank 1 resolved a different config than rank 0/);
  });

  describe('cornernet train under mpirun', () => {
    let dir: string;
    const flags = (workDir: string, iters: number, extra: string[] = []) => [
      CLI, 'train', '--device', 'cpu', '--work-dir', workDir, '--max-iters', String(iters),
      ...[...SMALL, 'train.batchSize=2', 'train.epochs=1', 'evaluation.intervalEpochs=100', 'data.maxValImages=2', ...extra].flatMap((s) => ['--set', s]),
    ];
    const env = () => ({ CORNERNET_CACHE: path.join(dir, 'cache') });
    // The uninterrupted 2-rank run the resumed ones must end equal to.
    let whole: Run;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-dist-cli-'));
      whole = await mpirun(flags(path.join(dir, 'whole'), 6), env());
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('trains with rank 0 alone writing, and a run resumed from rank 0\'s checkpoint ends with the weights of an uninterrupted one', async () => {
      assert.equal(whole.code, 0, whole.out);
      assert.equal(whole.out.match(/training shapes-tiny on cpu x 2 ranks \(mpi \(/g)?.length, 1, whole.out);
      assert.match(whole.out, /iterations\/epoch of 4 images \(2 ranks x 2\)/);
      const logged = fs.readFileSync(path.join(dir, 'whole', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; iter: number });
      assert.deepEqual(logged.filter((m) => m.kind === 'train').map((m) => m.iter), [1, 2, 3, 4, 5, 6]);

      const part = path.join(dir, 'part');
      const first = await mpirun(flags(part, 2), env());
      assert.equal(first.code, 0, first.out);
      // Rank 1 has no checkpoint of its own to read: the state comes from rank 0.
      const rest = await mpirun([...flags(part, 6), '--resume'], env());
      assert.equal(rest.code, 0, rest.out);
      assert.match(rest.out, /resuming from .*iter_00000002\.safetensors/);
      await assertSameLast(part, path.join(dir, 'whole'));
    });

    it('a checkpoint of 2 ranks resumes only with 2 ranks', () => {
      const r = spawnSync(process.execPath, [...flags(path.join(dir, 'whole'), 8), '--resume'], { env: { ...process.env, ...env() }, encoding: 'utf8' });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /--resume: .*iter_00000006\.safetensors was written by a run of 2 processes, this one has 1: resume it with the same number \(mpirun -np 2\)/);
    });

    it('a signal to one rank stops every rank after the same step; rank 0 saves it and --resume continues exactly', async () => {
      const part = path.join(dir, 'signal');
      const stopped = await mpirun(flags(part, 6), env(), { ready: /\[train\] 1\//, act: (pid) => process.kill(pid(1), 'SIGTERM') });
      const at = /interrupted at iteration (\d+): checkpoint/.exec(stopped.out);
      assert.ok(at, stopped.out);
      assert.equal(stopped.out.match(/interrupted at iteration/g)!.length, 1, 'rank 0 alone reports');
      assert.ok(Number(at[1]) < 6, stopped.out);
      assert.equal((await loadCheckpoint(listCheckpoints(part).at(-1)!)).meta.iter, Number(at[1]));
      const rest = await mpirun([...flags(part, 6), '--resume'], env());
      assert.equal(rest.code, 0, rest.out);
      await assertSameLast(part, path.join(dir, 'whole'));
    });

    it('a rank that stops answering makes the other exit within the timeout, naming it', async () => {
      const r = await mpirun(flags(path.join(dir, 'hang'), 1000), { ...env(), CORNERNET_DIST_TIMEOUT: '2' }, {
        ready: /\[train\] 1\//,
        act: (pid) => process.kill(pid(1), 'SIGSTOP'),
      });
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /mpi: rank 1 (did not take part in|stopped answering during) (all-reduce|broadcast|barrier) #\d+ within 2 s \(this is rank 0 of 2\)/);
      assert.ok(r.seconds < 40, `took ${r.seconds} s`);
    });

    it('a rank that fails alone ends the run at once: its error, not a wait for the timeout', async () => {
      // MPMD: rank 1's dataset cache cannot be made, rank 0's can; the configs are the same.
      fs.writeFileSync(path.join(dir, 'not-a-dir'), '');
      const args = flags(path.join(dir, 'alone'), 4);
      const t0 = Date.now();
      const r = spawnSync(MPIRUN, [...MPI_FLAGS.slice(0, 2), '-np', '1', process.execPath, ...args, ':', '-np', '1', 'env', `CORNERNET_CACHE=${path.join(dir, 'not-a-dir', 'x')}`, process.execPath, ...args], {
        env: { ...process.env, ...env(), CORNERNET_NUM_THREADS: '1', CORNERNET_DIST_TIMEOUT: '60' }, encoding: 'utf8', timeout: 90000,
      });
      assert.notEqual(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /cornernet: rank 1: ENOTDIR: not a directory, mkdir '.*not-a-dir\/x/);
      assert.ok(Date.now() - t0 < 30000, `took ${(Date.now() - t0) / 1000} s (rank 0 waited for the timeout?)`);
    });

    it('a rank that dies ends the run at once, the launcher naming it', async () => {
      const r = await mpirun(flags(path.join(dir, 'die'), 1000), { ...env(), CORNERNET_DIST_TIMEOUT: '30' }, {
        ready: /\[train\] 1\//,
        act: (pid) => process.kill(pid(1), 'SIGKILL'),
      });
      assert.notEqual(r.code, 0, r.out);
      // Open MPI's mpirun notices the death and ends the other ranks itself (within the timeout).
      assert.match(r.out, /process rank 1 .*exited on signal 9|rank 1 did not take part/, r.out);
      assert.ok(r.seconds < 25, `took ${r.seconds} s`);
    });
  });
});

describe('train/distributed: torchrun-style rendezvous on loopback', function () {
  this.timeout(30000);

  const meet = (env: NodeJS.ProcessEnv, timeoutMs = 20000) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [WORKER, 'rendezvous', String(timeoutMs)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });

  it('rank 0 hands its 128-byte id to rank 1 over one TCP connection, whichever starts first', async () => {
    const port = await freePort();
    const env = (rank: number) => ({ MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: '2', RANK: String(rank), LOCAL_RANK: String(rank) });
    const one = meet(env(1)); // before rank 0 listens: it retries
    await new Promise((r) => setTimeout(r, 500));
    const zero = meet(env(0));
    const [a, b] = await Promise.all([zero, one]);
    assert.equal(a.code, 0, a.out);
    assert.equal(b.code, 0, b.out);
    const [ra, rb] = [results(a.out)[0]!, results(b.out)[0]!];
    assert.equal((ra.id as string).length, 256);
    assert.equal(ra.id, rb.id);
  });

  it('a rank that cannot reach rank 0 gives up at its deadline, naming MASTER_ADDR:MASTER_PORT', async () => {
    const port = await freePort();
    const r = await meet({ MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: '2', RANK: '1', LOCAL_RANK: '0' }, 1000);
    assert.notEqual(r.code, 0);
    assert.match(r.out, new RegExp(`rank 1 could not reach rank 0 at MASTER_ADDR:MASTER_PORT 127\\.0\\.0\\.1:${port} within 1 s`));
  });

  it('rank 0 names the ranks that never connected', async () => {
    const port = await freePort();
    const r = await meet({ MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), WORLD_SIZE: '3', RANK: '0', LOCAL_RANK: '0' }, 1000);
    assert.notEqual(r.code, 0);
    assert.match(r.out, new RegExp(`rendezvous on MASTER_ADDR:MASTER_PORT 127\\.0\\.0\\.1:${port}: ranks 1, 2 did not connect within 1 s`));
  });

  it('cornernet train on the CPU with torchrun-style variables says CPU ranks need mpirun', () => {
    const r = spawnSync(process.execPath, [CLI, 'train', '--device', 'cpu', '--max-iters', '1'], {
      env: { ...process.env, MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500', WORLD_SIZE: '2', RANK: '0', LOCAL_RANK: '0' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /CPU ranks sum their gradients with MPI: launch them with mpirun \(mpirun -np 2 cornernet train --device cpu/);
  });
});
