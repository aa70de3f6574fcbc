// PyTorch beside the engine in the same bench run: finding a Python that can
// import torch, running the PyTorch side of a comparison (pytorch_conv2d.py,
// pytorch_cornernet.py) in a child process, and the recorded figures
// (pytorch_reference.json) that stand in when no Python here has torch.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { ModelConfig } from '../lib/configs';
import { packageRoot } from '../lib/native';
import type { BenchContext } from './harness';

let found: { py: string | null; why: string } | undefined;

/** The first Python that can import torch: $PYTHON, python3 on PATH, then the system one (Debian's python3-torch). */
export function pythonWithTorch(ctx: BenchContext, group: string): string | null {
  if (!found) {
    const candidates = [...new Set([process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p))];
    const why: string[] = [];
    let py: string | null = null;
    for (const c of candidates) {
      const probe = spawnSync(c, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
      if (probe.status === 0) {
        py = c;
        break;
      }
      why.push(`${c}: ${probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`)}`);
    }
    found = { py, why: why.join('; ') };
  }
  if (!found.py) ctx.note(`${group}: no Python here imports torch (${found.why}); compared with the recorded figures only.`);
  return found.py;
}

/** Runs bench/<script> with `args` under a Python that has torch; its last stdout line parsed as JSON, or null (and a note) when it cannot run. */
export function runTorchScript<T>(ctx: BenchContext, group: string, script: string, args: string[], timeoutMs = 900_000): T | null {
  const py = pythonWithTorch(ctx, group);
  if (!py) return null;
  const r = spawnSync(py, [path.join(packageRoot, 'bench', script), ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    ctx.note(`${group}: the PyTorch script ${script} failed: ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** One measurement of pytorch_cornernet.py (its own process). */
export interface TorchModelTiming {
  torch: string;
  kind: 'eval' | 'fwdbwd' | 'train';
  threads: number;
  /** Wall seconds of each timed call after the warm-up. */
  seconds: number[];
  /** CPU seconds of the process (every thread) per timed call. */
  cpuSeconds: number;
  minorFaultsPerCall: number;
  /** ru_maxrss of the process. */
  peakRssBytes: number;
  parameters: number;
}

/** A figure of PyTorch: measured now, or the recorded one (then `recorded` names its machine). */
export interface TorchFigure extends TorchModelTiming {
  recorded?: string;
}

interface RecordedFile {
  machine: string;
  figures: Record<string, TorchModelTiming>;
}

/**
 * PyTorch's `kind` measurement of `model` (the engine's config) at `size`,
 * batch `batch`: run now when a Python has torch, else the figure recorded
 * under `key` in pytorch_reference.json (null when there is none either).
 */
export function torchModel(
  ctx: BenchContext,
  group: string,
  key: string,
  kind: TorchModelTiming['kind'],
  model: ModelConfig,
  o: { size: number; batch: number; warmup: number; reps: number }
): TorchFigure | null {
  const args = [kind, String(ctx.threads), JSON.stringify(model), ...[o.size, o.batch, o.warmup, o.reps].map(String)];
  const now = runTorchScript<TorchModelTiming>(ctx, group, 'pytorch_cornernet.py', args);
  if (now) return now;
  const recordedPath = path.join(packageRoot, 'bench', 'pytorch_reference.json');
  const file = fs.existsSync(recordedPath) ? (JSON.parse(fs.readFileSync(recordedPath, 'utf8')) as RecordedFile) : null;
  const rec = file?.figures[key];
  if (!file || !rec || rec.threads !== ctx.threads) {
    ctx.note(`${group}: no PyTorch figure for ${key} at ${ctx.threads} threads, measured or recorded: not compared`);
    return null;
  }
  return { ...rec, recorded: file.machine };
}

export const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The label of a PyTorch figure in the table: same run, or recorded (and where). */
export function torchLabel(f: TorchFigure): string {
  return f.recorded ? `PyTorch ${f.torch}, ${f.threads} threads, RECORDED on ${f.recorded}` : `PyTorch ${f.torch}, ${f.threads} threads, same run`;
}
