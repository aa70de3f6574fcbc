// What the command tests of test, detect and train run on: a small synthetic
// dataset in COCO layout (train and val splits, 64 px) and weights for it (a
// shapes-tiny model as initialised, its architecture in the file's metadata),
// and the `cornernet` binary as a child process.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { writeSynthDataset } from '../../lib/data/synth/write_dataset';
import { saveSafetensors } from '../../lib/io/safetensors';
import { Model } from '../../lib/model';
import { packageRoot } from '../../lib/native';
import { resolveConfig } from '../../lib/train/resolve_config';
import { tmpDir } from '../data/coco_fixture';

export { makeFifo } from '../data/coco_fixture';

export interface CliFixture {
  dir: string;
  /** The dataset folder (annotations/instances_{train,val}.json, train/, val/). */
  data: string;
  weights: string;
  /** Image files of a split, in the annotation file's order. */
  images(split: 'train' | 'val'): string[];
}

export async function makeCliFixture(prefix: string, counts = { train: 4, val: 3 }): Promise<CliFixture> {
  const dir = tmpDir(prefix);
  const data = path.join(dir, 'data');
  await writeSynthDataset(data, { ...counts, size: 64, seed: 1 });
  const cfg = { ...resolveConfig('shapes-tiny').model, numClasses: 5 };
  const weights = path.join(dir, 'weights.safetensors');
  saveSafetensors(weights, Object.entries(new Model(cfg).stateDict()), { config: JSON.stringify(cfg) });
  const images = (split: 'train' | 'val') => {
    const j = JSON.parse(fs.readFileSync(path.join(data, 'annotations', `instances_${split}.json`), 'utf8')) as { images: { file_name: string }[] };
    return j.images.map((im) => path.join(data, split, im.file_name));
  };
  return { dir, data, weights, images };
}

export interface CliRun {
  status: number | null;
  /** Set when the run was killed (e.g. SIGTERM after `timeoutMs`: it hung). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cornernet(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): CliRun {
  const r = spawnSync(process.execPath, [path.join(packageRoot, 'bin', 'cornernet.js'), ...args], {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    env: { ...process.env, ...opts.env },
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
