// The embedded default dataset of the training command: the synthetic shapes,
// generated once into a cache folder keyed by the generator version and the
// parameters, then reused. Generation writes into a temporary sibling folder and
// renames it into place, so an interrupted run never leaves a half dataset that
// looks complete, and two processes racing end with one intact copy; the temp
// folder of a generation that was killed is removed by the next start.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { SYNTH_GENERATOR_VERSION, VARIED_GENERATOR_VERSION, writeSynthDataset, type SynthOptions } from './synth/write_dataset';

/**
 * The default: 1000 train / 200 val images at 128x128, seed 0. 128 px keeps a
 * CPU training step of a tiny model cheap (32x32 output map at stride 4) while
 * shapes of 18-64 px stay well resolved; 1000 images with crop/flip/colour
 * augmentation are enough that a small model generalises to the 200 val images
 * instead of memorising; generation takes a few seconds.
 */
export const DEFAULT_SYNTH: Readonly<Omit<SynthOptions, 'concurrency'>> = { train: 1000, val: 200, size: 128, seed: 0 };

export function cacheRoot(): string {
  return process.env.CORNERNET_CACHE ? path.resolve(process.env.CORNERNET_CACHE) : path.join(os.homedir(), '.cache', 'cornernet-native');
}

export function synthCacheDir(o: Omit<SynthOptions, 'concurrency'> = DEFAULT_SYNTH, root = cacheRoot()): string {
  // The first kind keeps its original key (no kind in it), so caches made before 'varied' existed stay valid.
  const kind = o.kind === 'varied' ? `varied-v${VARIED_GENERATOR_VERSION}` : `shapes-v${SYNTH_GENERATOR_VERSION}`;
  const key = `${kind}-t${o.train}-v${o.val}-s${o.size}-seed${o.seed}${o.maxObjects !== undefined ? `-m${o.maxObjects}` : ''}`;
  return path.join(root, 'datasets', key);
}

const COMPLETE = '.complete';
// `${dir}.tmp-<pid>-<time>`: a generation in progress, or left by a process that was killed.
const TEMP_RE = /\.tmp-(\d+)-\d+$/;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp folders of generations whose process is gone (killed before
 * it could rename or clean up); those of running processes are theirs to finish.
 */
function removeStaleTemps(datasetsDir: string, log?: (msg: string) => void): void {
  if (!fs.existsSync(datasetsDir)) return;
  for (const name of fs.readdirSync(datasetsDir)) {
    const m = TEMP_RE.exec(name);
    if (!m || isRunning(Number(m[1]))) continue;
    fs.rmSync(path.join(datasetsDir, name), { recursive: true, force: true });
    log?.(`removed ${path.join(datasetsDir, name)}, left by an interrupted dataset generation (process ${m[1]})`);
  }
}

/** The dataset folder, generated first if the cache does not hold it yet. */
export async function ensureSynthDataset(
  o: Omit<SynthOptions, 'concurrency'> = DEFAULT_SYNTH,
  opts: { root?: string; log?: (msg: string) => void } = {}
): Promise<{ dir: string; generated: boolean }> {
  const dir = synthCacheDir(o, opts.root ?? cacheRoot());
  removeStaleTemps(path.dirname(dir), opts.log);
  if (fs.existsSync(path.join(dir, COMPLETE))) return { dir, generated: false };
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  // A folder without the marker is what a crash before this scheme could leave: not trusted.
  if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  opts.log?.(`generating the synthetic shapes dataset into ${dir} (once)`);
  try {
    await writeSynthDataset(tmp, { ...o });
    fs.writeFileSync(path.join(tmp, COMPLETE), `${JSON.stringify(o)}\n`);
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another process finished first: keep its copy.
      if (!fs.existsSync(path.join(dir, COMPLETE))) throw e;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { dir, generated: true };
}
