// Training with several processes (ranks): which launcher started this one, the
// process group the native trainer sums gradients over, and the few agreements
// the loop needs between ranks (same config, rank 0's resume point, rank 0 first).
//
//   mpirun -np N cornernet train --device cpu ...   Open MPI (OMPI_COMM_WORLD_*) or MPICH (PMI_*):
//                                                    an MPI process group (libcornernet_mpi.so)
//   MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE,       torchrun-style: GPU ranks meet through
//   LOCAL_RANK                                        rendezvous.ts and share an NCCL unique id
//   neither (or a size of 1)                          one process, no group
import { native } from '../native';

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

/**
 * Joins the ranks this process was launched with. CPU ranks need mpirun (MPI
 * all-reduce); GPU ranks take an NCCL group, which this build does not have yet
 * (it would be created here from rank, size, the unique id that rendezvous()
 * or an MPI broadcast hands out, and the device of LOCAL_RANK: hence async).
 */
export async function joinRanks(device: string, env: NodeJS.ProcessEnv = process.env): Promise<Ranks> {
  const launch = detectLaunch(env);
  if (launch.kind === 'single') return new Ranks(launch, null);
  const gpu = device !== 'cpu' && device !== 'auto';
  if (gpu)
    throw new Error(
      `--device ${device} with ${launch.size} ranks: multi-process GPU training needs the NCCL process group, which this build does not provide; ` +
        `train with --device cpu under mpirun, or with --replicas N on one machine`,
    );
  if (launch.kind === 'torchrun')
    throw new Error(
      `RANK/WORLD_SIZE/MASTER_ADDR are set (WORLD_SIZE ${launch.size}) but CPU ranks sum their gradients with MPI: ` +
        `launch them with mpirun (mpirun -np ${launch.size} cornernet train --device cpu ...; as root add --allow-run-as-root)`,
    );
  const mpi = native() as unknown as { mpiProcessGroup(o: { timeoutSeconds: number }): ProcessGroup; mpiAbandon(): void };
  const group = mpi.mpiProcessGroup({ timeoutSeconds: collectiveTimeoutSeconds(env) });
  if (group.size !== launch.size || group.rank !== launch.rank)
    throw new Error(`mpi: ${launch.launcher} says rank ${launch.rank} of ${launch.size}, MPI_COMM_WORLD says rank ${group.rank} of ${group.size}`);
  const ranks = new Ranks(launch, group);
  process.once('exit', (code) => {
    if (code !== 0 && !ranks.failedTogether) mpi.mpiAbandon();
  });
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
