// Training with several processes (ranks): which launcher started this one, the
// process group the native trainer sums gradients over, and the few agreements
// the loop needs between ranks (same config, rank 0's resume point, rank 0 first).
//
//   mpirun -np N cornernet train --device cpu ...   Open MPI (OMPI_COMM_WORLD_*) or MPICH (PMI_*):
//                                                    an MPI process group (libcornernet_mpi.so)
//   mpirun -np N cornernet train --device cuda ...  GPU ranks: rank 0's NCCL unique id broadcast
//                                                    with MPI, then an NCCL process group
//   MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE,       torchrun-style GPU ranks: rank 0's NCCL unique
//   LOCAL_RANK                                        id handed out by rendezvous.ts, then NCCL
//   neither (or a size of 1)                          one process, no group
//
// A GPU rank trains on cuda:LOCAL_RANK (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID)
// unless --device names cuda:N, with one replica: one GPU per rank.
import { native } from '../native';
import { resolveTrainingBackend } from './device';
import { rendezvous } from './rendezvous';

export type Launch =
  | { kind: 'single' }
  | { kind: 'mpi'; launcher: 'Open MPI' | 'MPICH'; rank: number; size: number; localRank: number }
  | { kind: 'torchrun'; rank: number; size: number; localRank: number; masterAddr: string; masterPort: number };

/** The native process group (bindings/process_group.cc). */
export interface ProcessGroup {
  readonly rank: number;
  readonly size: number;
  /** What carries the bytes, e.g. "mpi (Open MPI v4.1.4)". */
  readonly name: string;
  allReduceSumHost(x: Float64Array): Promise<Float64Array>;
  /** Rank `root`'s bytes on every rank; every rank passes an array of the same length. */
  broadcastHost(x: Uint8Array, root: number): Promise<Uint8Array>;
  barrier(): Promise<void>;
}

function intVar(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new Error(`environment: ${name} must be a non-negative integer, got '${v}'`);
  return Number(v);
}

/** Which launcher started this process, from its environment. */
export function detectLaunch(env: NodeJS.ProcessEnv = process.env): Launch {
  const ompiSize = intVar(env, 'OMPI_COMM_WORLD_SIZE');
  if (ompiSize !== undefined && ompiSize > 1)
    return { kind: 'mpi', launcher: 'Open MPI', size: ompiSize, rank: intVar(env, 'OMPI_COMM_WORLD_RANK') ?? 0, localRank: intVar(env, 'OMPI_COMM_WORLD_LOCAL_RANK') ?? 0 };
  const pmiSize = intVar(env, 'PMI_SIZE');
  if (pmiSize !== undefined && pmiSize > 1)
    return { kind: 'mpi', launcher: 'MPICH', size: pmiSize, rank: intVar(env, 'PMI_RANK') ?? 0, localRank: intVar(env, 'MPI_LOCALRANKID') ?? 0 };
  const worldSize = intVar(env, 'WORLD_SIZE');
  if (worldSize !== undefined && worldSize > 1) {
    const missing = ['RANK', 'MASTER_ADDR', 'MASTER_PORT'].filter((k) => !env[k]);
    if (missing.length) throw new Error(`environment: WORLD_SIZE is ${worldSize} but ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set (torchrun-style launch needs MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK)`);
    const rank = intVar(env, 'RANK')!;
    if (rank >= worldSize) throw new Error(`environment: RANK ${rank} is not below WORLD_SIZE ${worldSize}`);
    const masterPort = intVar(env, 'MASTER_PORT')!;
    if (masterPort < 1 || masterPort > 65535) throw new Error(`environment: MASTER_PORT must be a TCP port in [1, 65535], got ${masterPort}`);
    return { kind: 'torchrun', rank, size: worldSize, localRank: intVar(env, 'LOCAL_RANK') ?? 0, masterAddr: env.MASTER_ADDR!, masterPort };
  }
  return { kind: 'single' };
}

/** Seconds a collective waits for the other ranks (CORNERNET_DIST_TIMEOUT, default 1800: it must cover rank 0's evaluation). */
export function collectiveTimeoutSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.CORNERNET_DIST_TIMEOUT;
  if (v === undefined || v === '') return 1800;
  const t = Number(v);
  if (!(t > 0)) throw new Error(`environment: CORNERNET_DIST_TIMEOUT must be a positive number of seconds, got '${v}'`);
  return t;
}

/** This process's place among the ranks, and the agreements between them. */
export class Ranks {
  readonly rank: number;
  readonly size: number;
  /**
   * Set when this rank stops with an error every rank raised alike (configs differ,
   * rank 0 failed, a non-finite step): they all exit, and MPI is finalised as usual.
   * Otherwise a failing rank skips that (it would wait for the others, which wait
   * for it) and mpirun ends the job at once.
   */
  failedTogether = false;
  /** GPU ranks: the backend this rank trains on (cuda:LOCAL_RANK or as --device named it); null for CPU ranks. */
  backend: string | null = null;

  constructor(
    readonly launch: Launch,
    readonly group: ProcessGroup | null,
  ) {
    this.rank = group?.rank ?? 0;
    this.size = group?.size ?? 1;
  }

  get isRoot(): boolean {
    return this.rank === 0;
  }

  /** `err`, as an error every rank raises at the same point (see failedTogether). */
  together(err: Error): Error {
    this.failedTogether = true;
    return err;
  }

  /** One line for the log, e.g. "2 ranks (mpi (Open MPI v4.1.4))". */
  describe(): string {
    return this.group ? `${this.size} ranks (${this.group.name})` : '1 process';
  }

  /** Every rank's `value`, by rank. */
  async allGather(value: number): Promise<number[]> {
    if (!this.group) return [value];
    const slots = new Float64Array(this.size);
    slots[this.rank] = value;
    return [...(await this.group.allReduceSumHost(slots))];
  }

  /** Rank 0's bytes on every rank, whatever their length (sent first). */
  async broadcastBytes(bytes: Uint8Array | null): Promise<Uint8Array> {
    if (!this.group) return bytes ?? new Uint8Array(0);
    const len = new Float64Array(1);
    if (this.isRoot) len[0] = bytes!.length;
    const n = (await this.group.broadcastHost(new Uint8Array(len.buffer), 0)).buffer;
    const size = new Float64Array(n.slice(0))[0]!;
    return this.group.broadcastHost(this.isRoot ? bytes! : new Uint8Array(size), 0);
  }

  /**
   * Rank 0 runs `fn`; every rank gets its JSON result, or throws its error (so
   * every rank fails together rather than waiting for a rank that has stopped).
   */
  async fromRoot<T>(fn: () => Promise<T> | T): Promise<T> {
    if (!this.group) return fn();
    let out: { ok: true; value: T } | { ok: false; message: string } | null = null;
    if (this.isRoot) {
      try {
        out = { ok: true, value: await fn() };
      } catch (e) {
        out = { ok: false, message: (e as Error).message };
      }
    }
    const bytes = await this.broadcastBytes(this.isRoot ? Buffer.from(JSON.stringify(out)) : null);
    const got = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof out;
    if (!got!.ok) throw this.together(new Error(this.isRoot ? got!.message : `rank 0 failed: ${got!.message}`));
    return got!.value;
  }

  /** Rank 0 runs `fn` first (e.g. generating a shared dataset cache), then every other rank. */
  async rootFirst<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.group) return fn();
    let result: T | undefined;
    await this.fromRoot(async () => {
      result = await fn();
      return true;
    });
    return this.isRoot ? result! : fn();
  }

  /**
   * Every rank must train with the same resolved config: rank 0's is sent to all,
   * each compares it with its own, and all fail together when any differs, each
   * differing rank naming the first key at fault.
   */
  async checkSameConfig(config: unknown): Promise<void> {
    if (!this.group) return;
    const mine = canonicalJson(config);
    const root = Buffer.from(await this.broadcastBytes(this.isRoot ? Buffer.from(mine) : null)).toString('utf8');
    const diff = root === mine ? null : firstDifference(JSON.parse(root), JSON.parse(mine));
    const flags = new Float64Array(this.size);
    if (root !== mine) flags[this.rank] = 1;
    const all = await this.group.allReduceSumHost(flags);
    const differing = [...all].flatMap((v, r) => (v > 0 ? [r] : []));
    if (!differing.length) return;
    if (diff)
      throw this.together(new Error(
        `rank ${this.rank}: the resolved config differs from rank 0's at ${diff.path}: ${JSON.stringify(diff.mine) ?? 'absent'} here, ` +
          `${JSON.stringify(diff.root) ?? 'absent'} on rank 0; start every rank with the same flags and config files`,
      ));
    throw this.together(new Error(
      `rank${differing.length > 1 ? 's' : ''} ${differing.join(', ')} resolved a different config than rank 0 (each names the key); ` +
        `start every rank with the same flags and config files`,
    ));
  }

  async barrier(): Promise<void> {
    if (this.group) await this.group.barrier();
  }
}

/** Why a rank cannot join, said as this rank: "rank 1 of 2: ...". */
function rankError(launch: Exclude<Launch, { kind: 'single' }>, what: string): Error {
  return new Error(`rank ${launch.rank} of ${launch.size}: ${what}`);
}

/**
 * The backend a GPU rank trains on: `cuda:N` (or `cuda-emu:N`) as named, else the
 * device of its local rank. Null for CPU ranks (`--device cpu`, or `auto` without a
 * usable GPU). Throws when the machine has fewer devices than the local rank needs.
 */
export function gpuRankBackend(device: string, launch: Exclude<Launch, { kind: 'single' }>, gpuAvailable: () => { count: number; why: string }): string | null {
  if (device === 'cpu') return null;
  const emu = device.startsWith('cuda-emu');
  if (device === 'auto' && gpuAvailable().count === 0) return null;
  if (/^cuda(-emu)?:\d+$/.test(device)) return device;
  const { count, why } = gpuAvailable();
  const base = emu ? 'cuda-emu' : 'cuda';
  if (count === 0) throw rankError(launch, `--device ${device}: this machine has no usable GPU: ${why}`);
  if (launch.localRank >= count)
    throw rankError(launch, `--device ${device} gives local rank ${launch.localRank} ${base}:${launch.localRank}, but this machine has ${count} GPU${count > 1 ? 's' : ''}: ` +
      `start at most ${count} rank${count === 1 ? '' : 's'} per machine, one GPU each${emu ? ' (CORNERNET_EMU_DEVICES sets the emulator\'s count)' : ''}`);
  return `${base}:${launch.localRank}`;
}

/** NCCL loaded on `backend` (its dlopen happens here), or an error naming the rank and what to install. */
function requireNccl(backend: string, launch: Exclude<Launch, { kind: 'single' }>): void {
  const nccl = native().backendInfo(backend).libraries.find((l) => l.name === 'NCCL');
  if (nccl?.found) return;
  const why = (nccl?.message ?? 'this CUDA plugin does not list NCCL').replace(/; several GPU replicas synchronise through host copies$/, '');
  const hint = /disabled by CORNERNET_NCCL/.test(why)
    ? 'unset CORNERNET_NCCL'
    : 'install NCCL 2 for your CUDA version, e.g. `pip install nvidia-nccl-cu13` (cu12 for CUDA 12) with its lib folder (site-packages/nvidia/nccl/lib) on LD_LIBRARY_PATH, ' +
      "or the distribution's libnccl2 package (NVIDIA's CUDA repository: apt-get install libnccl2)";
  throw rankError(launch, `GPU ranks sum their gradients with NCCL, which is not available on ${backend}: ${why}; ${hint}`);
}

/**
 * Joins the ranks this process was launched with. CPU ranks need mpirun (an MPI
 * group, MPI all-reduce). GPU ranks (`--device cuda`, `cuda:N`, `cuda-emu[:N]`, or
 * `auto` when a GPU is usable) take an NCCL group: rank 0 makes the unique id, MPI
 * (under mpirun) or rendezvous() (torchrun-style) hands it out, and every rank
 * creates its communicator on its device (`ranks.backend`).
 */
export async function joinRanks(device: string, env: NodeJS.ProcessEnv = process.env, opts: { replicas?: number } = {}): Promise<Ranks> {
  const launch = detectLaunch(env);
  if (launch.kind === 'single') return new Ranks(launch, null);
  const gpuCount = () => {
    const p = device.startsWith('cuda-emu') ? native().info().cudaEmu : native().info().cuda;
    const usable = p.loaded && p.status === 'ok';
    return { count: usable ? p.devices.length : 0, why: usable ? '' : p.message };
  };
  const backend = gpuRankBackend(device, launch, gpuCount);
  if (backend === null && launch.kind === 'torchrun')
    throw new Error(
      `RANK/WORLD_SIZE/MASTER_ADDR are set (WORLD_SIZE ${launch.size}) but CPU ranks sum their gradients with MPI: ` +
        `launch them with mpirun (mpirun -np ${launch.size} cornernet train --device cpu ...; as root add --allow-run-as-root)`,
    );
  if (backend !== null) {
    const replicas = opts.replicas ?? 1;
    if (replicas > 1)
      throw rankError(launch, `--replicas ${replicas} with GPU ranks: each rank trains on one GPU (${backend}); start one rank per GPU instead ` +
        `(mpirun -np <ranks x ${replicas}>, or ${replicas} times as many torchrun-style processes) with --replicas 1`);
    try {
      // The engine says why the device cannot train (no plugin, no driver, no device, missing kernels).
      resolveTrainingBackend(backend);
    } catch (e) {
      throw rankError(launch, (e as Error).message);
    }
    requireNccl(backend, launch);
  }
  const timeoutSeconds = collectiveTimeoutSeconds(env);
  const addon = native() as unknown as {
    mpiProcessGroup(o: { timeoutSeconds: number }): ProcessGroup;
    mpiAbandon(): void;
    ncclUniqueId(backend: string): Uint8Array;
    ncclProcessGroup(o: { rank: number; size: number; uniqueId: Uint8Array; backend: string; timeoutSeconds: number }): Promise<ProcessGroup>;
  };
  // The Ranks the loop gets: its failedTogether decides, at exit, whether MPI is finalised.
  let ranks: Ranks | null = null;
  let uniqueId: Uint8Array;
  if (launch.kind === 'mpi') {
    const group = addon.mpiProcessGroup({ timeoutSeconds });
    if (group.size !== launch.size || group.rank !== launch.rank)
      throw new Error(`mpi: ${launch.launcher} says rank ${launch.rank} of ${launch.size}, MPI_COMM_WORLD says rank ${group.rank} of ${group.size}`);
    const mpiRanks = new Ranks(launch, group);
    process.once('exit', (code) => {
      if (code !== 0 && !(ranks ?? mpiRanks).failedTogether) addon.mpiAbandon();
    });
    if (backend === null) return (ranks = mpiRanks);
    // GPU ranks under mpirun: MPI carries only the unique id; rank 0's failure to make it reaches every rank.
    uniqueId = await mpiRanks.fromRoot(() => Buffer.from(addon.ncclUniqueId(backend)).toString('base64')).then((b64) => Buffer.from(b64, 'base64'));
  } else {
    uniqueId = await rendezvous({ ...launch, worldSize: launch.size, uniqueId: launch.rank === 0 ? addon.ncclUniqueId(backend!) : undefined });
  }
  let group: ProcessGroup;
  try {
    group = await addon.ncclProcessGroup({ rank: launch.rank, size: launch.size, uniqueId: new Uint8Array(uniqueId), backend: backend!, timeoutSeconds });
  } catch (e) {
    const shared = /^cuda(-emu)?:\d+$/.test(device)
      ? ` (if several ranks run on this machine: --device ${device} puts them all on that one GPU, which NCCL refuses; use --device ${device.replace(/:\d+$/, '')}, and each rank takes its local rank's)`
      : '';
    throw rankError(launch, `${(e as Error).message}${shared}`);
  }
  ranks = new Ranks(launch, group);
  ranks.backend = backend;
  return ranks;
}

/** JSON with object keys sorted, so equal configs give equal text whatever their key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

/** The first path (a.b[2].c) where two JSON values differ, with both values there. */
export function firstDifference(root: unknown, mine: unknown, path = 'config'): { path: string; root: unknown; mine: unknown } | null {
  if (JSON.stringify(root) === JSON.stringify(mine)) return null;
  const isObj = (x: unknown) => x !== null && typeof x === 'object';
  if (isObj(root) && isObj(mine) && Array.isArray(root) === Array.isArray(mine)) {
    const a = root as Record<string, unknown>, b = mine as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference(a[k], b[k], Array.isArray(root) ? `${path}[${k}]` : `${path}.${k}`);
      if (d) return d;
    }
  }
  return { path, root, mine };
}
