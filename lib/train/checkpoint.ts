// Training checkpoints: one safetensors file per save, written atomically by the
// engine (temp file, fsync, rename), so a run killed mid-save leaves the previous
// checkpoint intact. The model's entries keep the reference's key names (the file
// also loads as plain weights); Adam's moments sit under `optimizer.exp_avg.<name>`
// and `optimizer.exp_avg_sq.<name>`; everything else (iteration, epoch, data
// order and RNG state, the resolved config, per-parameter Adam steps) is JSON in
// the header's metadata.
import * as fs from 'fs';
import * as path from 'path';

import { loadSafetensorsAsync, saveSafetensorsAsync, type SafetensorsData } from '../io/safetensors';
import type { IterationPlan } from './budget';
import type { OptimizerState, StateDict, TrainerState } from './native_trainer';
import { validateResolvedConfig, type ResolvedConfig } from './resolve_config';

export const CHECKPOINT_FORMAT = 'cornernet-native/checkpoint-v1';

export interface CheckpointMeta {
  /** Iterations completed. */
  iter: number;
  /** Epoch in progress (0-based) and iterations of it done. */
  epoch: number;
  epochIter: number;
  /**
   * Entries of the epoch's image order consumed, unreadable images skipped
   * included: where its data continues. Absent in checkpoints written before it
   * was recorded, which continue at epochIter x batch size (the same unless an
   * image was skipped).
   */
  epochImages?: number;
  /** A run planned by iterations (schedule.stepFractions): its length and lr steps, which a resumed run keeps. */
  plan?: IterationPlan;
  /** Anything the loop needs to continue exactly (data order, RNG states). */
  loop: Record<string, unknown>;
  /** The resolved config the run was started with. */
  config: Record<string, unknown>;
  time: string;
}

export interface Checkpoint {
  file: string;
  meta: CheckpointMeta;
  state: TrainerState;
}

const FILE_RE = /^iter_(\d{8})\.safetensors$/;
const OPT_AVG = 'optimizer.exp_avg.';
const OPT_SQ = 'optimizer.exp_avg_sq.';

export function checkpointDir(workDir: string): string {
  return path.join(workDir, 'checkpoints');
}

export function checkpointFile(workDir: string, iter: number): string {
  return path.join(checkpointDir(workDir), `iter_${String(iter).padStart(8, '0')}.safetensors`);
}

/** Checkpoint files of a work dir, oldest first. */
export function listCheckpoints(workDir: string): string[] {
  const dir = checkpointDir(workDir);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => FILE_RE.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export async function saveCheckpoint(workDir: string, meta: CheckpointMeta, state: TrainerState, keep: number): Promise<string> {
  const file = checkpointFile(workDir, meta.iter);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tensors = new Map<string, { shape: number[]; data: SafetensorsData }>();
  for (const [k, v] of Object.entries(state.stateDict)) tensors.set(k, { shape: v.shape, data: v.data });
  const steps: Record<string, number> = {};
  for (const [k, v] of Object.entries(state.optimizer)) {
    tensors.set(OPT_AVG + k, v.expAvg);
    tensors.set(OPT_SQ + k, v.expAvgSq);
    steps[k] = v.step;
  }
  await saveSafetensorsAsync(file, tensors, {
    format: CHECKPOINT_FORMAT,
    meta: JSON.stringify(meta),
    optimizer_steps: JSON.stringify(steps),
  });
  // Rotation: the newest `keep` stay; the one just written is never removed.
  const all = listCheckpoints(workDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) if (old !== file) fs.rmSync(old, { force: true });
  return file;
}

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  const f = await loadSafetensorsAsync(file);
  if (f.metadata?.format !== CHECKPOINT_FORMAT)
    throw new Error(
      `${file}: not a cornernet-native training checkpoint (metadata.format is ${JSON.stringify(f.metadata?.format ?? null)}): ` +
        `--resume continues only from a checkpoint \`cornernet train\` wrote (<work dir>/checkpoints/iter_*.safetensors); ` +
        `weights alone are for \`cornernet test\`, \`detect\` or \`model\` --weights`,
    );
  let meta: CheckpointMeta;
  let steps: Record<string, number>;
  try {
    meta = JSON.parse(f.metadata.meta ?? '') as CheckpointMeta;
    steps = JSON.parse(f.metadata.optimizer_steps ?? '') as Record<string, number>;
  } catch (e) {
    throw new Error(`${file}: checkpoint metadata is not valid JSON (${(e as Error).message})`);
  }
  const stateDict: StateDict = {};
  const optimizer: OptimizerState = {};
  for (const [k, v] of f.tensors) {
    if (k.startsWith(OPT_SQ)) continue;
    if (k.startsWith(OPT_AVG)) {
      const name = k.slice(OPT_AVG.length);
      const sq = f.tensors.get(OPT_SQ + name);
      if (!sq || !(v.data instanceof Float32Array) || !(sq.data instanceof Float32Array))
        throw new Error(`${file}: optimizer state of ${name} is incomplete`);
      optimizer[name] = { expAvg: { data: v.data, shape: v.shape }, expAvgSq: { data: sq.data, shape: sq.shape }, step: steps[name] ?? 0 };
      continue;
    }
    if (!(v.data instanceof Float32Array || v.data instanceof BigInt64Array)) throw new Error(`${file}: ${k} has dtype ${v.dtype}; expected F32 (or I64 counters)`);
    stateDict[k] = { data: v.data, shape: v.shape };
  }
  return { file, meta, state: { stateDict, optimizer } };
}

/**
 * Where a run resumed from `c` continues, and with which config (the one it was
 * started with, validated again: a checkpoint edited or written by another tool
 * may hold none, and the run would otherwise fail later on some missing key).
 */
export function resumePoint(c: Checkpoint): { config: ResolvedConfig; iter: number; epoch: number; epochIter: number; plan: IterationPlan | null } {
  const m = c.meta as Partial<CheckpointMeta> | null;
  for (const k of ['iter', 'epoch', 'epochIter'] as const) {
    const v = m?.[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new Error(`${c.file}: cannot resume from it: metadata.meta.${k} must be a non-negative integer, got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  const saved = m!.config;
  if (saved === null || typeof saved !== 'object' || Object.keys(saved).length === 0)
    throw new Error(`${c.file}: cannot resume from it: the training config in its metadata (meta.config) is missing or empty`);
  let config: ResolvedConfig;
  try {
    config = validateResolvedConfig(saved);
  } catch (e) {
    throw new Error(`${c.file}: cannot resume from it: the training config in its metadata is unusable: ${(e as Error).message}`);
  }
  const plan = m!.plan;
  const isCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (plan !== undefined && !(plan && isCount(plan.totalIters) && Array.isArray(plan.stepIters) && plan.stepIters.every(isCount) && ['epochs', 'max-minutes'].includes(plan.limit) && [undefined, true].includes(plan.timeFitted)))
    throw new Error(`${c.file}: cannot resume from it: metadata.meta.plan must be {totalIters, stepIters, limit[, timeFitted]}, got ${JSON.stringify(plan)}`);
  return { config, iter: m!.iter!, epoch: m!.epoch!, epochIter: m!.epochIter!, plan: plan ?? null };
}

/** The newest checkpoint that loads; a damaged one is reported through `warn` and skipped. */
export async function latestCheckpoint(workDir: string, warn: (msg: string) => void = () => {}): Promise<Checkpoint | null> {
  const files = listCheckpoints(workDir).reverse();
  for (const f of files) {
    try {
      return await loadCheckpoint(f);
    } catch (e) {
      warn(`skipping ${f}: ${(e as Error).message}`);
    }
  }
  return null;
}

/** Temp files left by a run killed while saving (never complete checkpoints). */
export function removeStaleTemps(workDir: string): number {
  const dir = checkpointDir(workDir);
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    if (!FILE_RE.test(f) && f.includes('.tmp')) {
      fs.rmSync(path.join(dir, f), { force: true });
      n++;
    }
  }
  return n;
}

/**
 * Moves the checkpoints of `workDir` past iteration `iter` into a new folder
 * `checkpoints/abandoned-<time>/`: a run resumed from `iter` replaces the
 * timeline they belong to, and a plain --resume must not pick one of them later.
 * They are moved, not deleted (they are someone's work). Returns the folder and
 * how many were moved, or null when none lies past `iter`.
 */
export function retireCheckpointsAfter(workDir: string, iter: number): { dir: string; count: number } | null {
  const later = listCheckpoints(workDir).filter((f) => Number(FILE_RE.exec(path.basename(f))![1]) > iter);
  if (later.length === 0) return null;
  const dir = path.join(checkpointDir(workDir), `abandoned-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of later) fs.renameSync(f, path.join(dir, path.basename(f)));
  return { dir, count: later.length };
}
