// Nothing lost, resume exact: `cornernet train` stopped by a signal at random
// points and continued with --resume ends with the weights of an uninterrupted
// run, bit for bit (also with unreadable images skipped, and after resuming from
// an older checkpoint); a closed stderr does not end a run.
import { strict as assert } from 'assert';
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { loadCoco } from '../../lib/data/coco_loader';
import { Rng } from '../../lib/data/rng';
import { ensureSynthDataset } from '../../lib/data/synth_cache';
import { TrainLoader } from '../../lib/data/train_loader';
import { packageRoot } from '../../lib/native';
import { checkpointFile, latestCheckpoint, listCheckpoints, loadCheckpoint, type Checkpoint } from '../../lib/train/checkpoint';
import { train, type TrainOptions } from '../../lib/train/loop';
import { SMALL, SMALL_SYNTH, Sink } from './small_run';

const TOTAL = 12; // of 16 iterations (2 epochs of 8): the stops fall in either epoch
const CLI = path.join(packageRoot, 'bin', 'cornernet.js');
// The uninterrupted runs save every iteration, so that any stop has its reference.
const EVERY_ITER = ['checkpoint.intervalIters=1', 'checkpoint.keep=100'];

/** Every tensor and every Adam step count equal, bit for bit. */
function assertSameState(got: Checkpoint, want: Checkpoint, what: string): void {
  assert.equal(got.meta.iter, want.meta.iter, `${what}: iteration`);
  const bytes = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  assert.deepEqual(Object.keys(got.state.stateDict).sort(), Object.keys(want.state.stateDict).sort(), `${what}: keys`);
  for (const [k, v] of Object.entries(want.state.stateDict)) assert.ok(bytes(got.state.stateDict[k]!).equals(bytes(v)), `${what}: ${k} differs`);
  assert.deepEqual(Object.keys(got.state.optimizer).sort(), Object.keys(want.state.optimizer).sort(), `${what}: optimizer keys`);
  for (const [k, v] of Object.entries(want.state.optimizer)) {
    const g = got.state.optimizer[k]!;
    assert.equal(g.step, v.step, `${what}: Adam step of ${k}`);
    assert.ok(bytes(g.expAvg).equals(bytes(v.expAvg)) && bytes(g.expAvgSq).equals(bytes(v.expAvgSq)), `${what}: Adam moments of ${k} differ`);
  }
}

/** Polls until `ready()`; fails with the child's stderr if it exits first. */
async function waitFor(ready: () => boolean, child: ChildProcess, stderr: () => string, what: string): Promise<void> {
  for (;;) {
    if (ready()) return;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`cornernet train exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The highest iteration metrics.jsonl has logged (0 before the first step). */
function loggedIter(workDir: string): number {
  const f = path.join(workDir, 'metrics.jsonl');
  if (!fs.existsSync(f)) return 0;
  let n = 0;
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    if (!line.endsWith('}')) continue; // a line being written
    const r = JSON.parse(line) as { kind: string; iter: number };
    if (r.kind === 'train') n = Math.max(n, r.iter);
  }
  return n;
}

describe('train: nothing lost, exact resume after any stop', function () {
  this.timeout(120000);
  let root: string;
  let cache: string;
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-resume-'));
    cache = path.join(root, 'cache');
    await ensureSynthDataset(SMALL_SYNTH, { root: cache });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const run = async (workDir: string, extra: Partial<TrainOptions> = {}, set: string[] = []) => {
    const sink = new Sink();
    const r = await train({ config: 'shapes-tiny', workDir, cacheRoot: cache, progressStream: sink, tty: false, set: [...SMALL, ...set], ...extra });
    return { r, out: sink.text };
  };
  const cli = (workDir: string, args: string[]) => {
    const child = spawn(process.execPath, [CLI, 'train', '--work-dir', workDir, ...args, ...SMALL.flatMap((s) => ['--set', s])], {
      env: { ...process.env, CORNERNET_CACHE: cache },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, exit, stderr: () => err };
  };
  // The uninterrupted run of `dir`'s dataset, one checkpoint per iteration.
  const references = new Map<string, string>();
  const reference = async (name: string, extra: Partial<TrainOptions> = {}) => {
    if (!references.has(name)) {
      const wd = path.join(root, `straight-${name}`);
      await run(wd, { maxIters: TOTAL, ...extra }, ['evaluation.intervalEpochs=5', ...EVERY_ITER]);
      references.set(name, wd);
    }
    return (iter: number) => loadCheckpoint(checkpointFile(references.get(name)!, iter));
  };

  /**
   * Stops a CLI run with `sig` once it has logged iteration `k`, checks the
   * checkpoint against the uninterrupted run's at the same iteration, resumes to
   * TOTAL and checks the end the same way.
   */
  const stopAndResume = async (workDir: string, k: number, sig: NodeJS.Signals, ref: (iter: number) => Promise<Checkpoint>, args: string[] = []) => {
    const c = cli(workDir, ['--max-iters', String(TOTAL), ...args]);
    await waitFor(() => loggedIter(workDir) >= k, c.child, c.stderr, `iteration ${k}`);
    c.child.kill(sig);
    assert.equal(await c.exit, 130, c.stderr());
    assert.match(c.stderr(), new RegExp(`${sig}: stopping after the current step`));
    const stopped = (await latestCheckpoint(workDir))!;
    assert.ok(stopped.meta.iter >= k && stopped.meta.iter < TOTAL, `stopped at ${stopped.meta.iter}`);
    assertSameState(stopped, await ref(stopped.meta.iter), `${sig} at iteration ${stopped.meta.iter}: the checkpoint`);
    // The resumed run takes its config (the dataset included) from the checkpoint.
    const resumed = await run(workDir, { maxIters: TOTAL, resume: true });
    assert.equal(resumed.r.iterations, TOTAL);
    assertSameState(await loadCheckpoint(resumed.r.checkpoint!), await ref(TOTAL), `stopped by ${sig} at ${stopped.meta.iter}, resumed`);
    return stopped.meta.iter;
  };

  it('SIGINT, SIGTERM or SIGHUP at random points, then --resume: the weights of an uninterrupted run, bit for bit', async () => {
    const ref = await reference('synth');
    const rng = new Rng(14, 'stops');
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const sig of signals) await stopAndResume(path.join(root, `stop-${sig}`), rng.int(1, 9), sig, ref);
  });

  it('the same with unreadable images in the dataset (the skips are replayed identically)', async () => {
    // A copy of the synthetic set with three images that do not decode, early in
    // the data order of both epochs, so that every stop comes after a skip.
    const data = path.join(root, 'corrupt');
    fs.cpSync((await ensureSynthDataset(SMALL_SYNTH, { root: cache })).dir, data, { recursive: true });
    const ds = await loadCoco(path.join(data, 'annotations', 'instances_train.json'), { imageDir: path.join(data, 'train') });
    const loader = new TrainLoader(ds, { batchSize: 4, seed: 0 });
    const bad = new Set([loader.order(0)[1]!, loader.order(0)[6]!, loader.order(1)[2]!]);
    for (const i of bad) fs.writeFileSync(path.join(data, 'train', ds.images[i]!.fileName), 'not an image');
    const ref = await reference('corrupt', { data });
    const rng = new Rng(14, 'stops with skips');
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const wd = path.join(root, `skip-${sig}`);
      await stopAndResume(wd, rng.int(2, 9), sig, ref, ['--data', data]);
    }
  });

  it('resuming from an older checkpoint retires the later ones of the abandoned run; a plain --resume then continues the new one exactly', async () => {
    const ref = await reference('synth');
    const wd = path.join(root, 'older');
    await run(wd, { maxIters: 8 }, ['evaluation.intervalEpochs=5', 'checkpoint.intervalIters=2', 'checkpoint.keep=10']);
    assert.deepEqual(listCheckpoints(wd).map((f) => path.basename(f)), [2, 4, 6, 8].map((i) => path.basename(checkpointFile(wd, i))));
    const before8 = fs.readFileSync(checkpointFile(wd, 8));
    // Continue from iteration 4 and stop right after the first step of the new timeline.
    const c = cli(wd, ['--resume', checkpointFile(wd, 4), '--max-iters', String(TOTAL)]);
    await waitFor(() => /\[train\] 5\//.test(c.stderr()), c.child, c.stderr, 'iteration 5');
    c.child.kill('SIGINT');
    assert.equal(await c.exit, 130, c.stderr());
    const n = Number(/interrupted at iteration (\d+)/.exec(c.stderr())?.[1]);
    assert.ok(n >= 5 && n < TOTAL, c.stderr());
    assert.match(c.stderr(), /resume: moved 2 checkpoint\(s\) past iteration 4 .* to .*abandoned/);
    const stopped = (await latestCheckpoint(wd))!;
    assert.equal(stopped.meta.iter, n, `a plain --resume would pick ${stopped.file}, not the stop of the new run`);
    // Moved aside, not lost.
    const aside = fs.readdirSync(path.join(wd, 'checkpoints')).filter((f) => f.startsWith('abandoned-'));
    assert.equal(aside.length, 1);
    assert.ok(fs.readFileSync(path.join(wd, 'checkpoints', aside[0]!, path.basename(checkpointFile(wd, 8)))).equals(before8));
    assertSameState(stopped, await ref(stopped.meta.iter), 'the checkpoint of the new timeline');
    const resumed = await run(wd, { maxIters: TOTAL, resume: true });
    assert.match(resumed.out, new RegExp(`resuming from .*iter_${String(stopped.meta.iter).padStart(8, '0')}`));
    assertSameState(await loadCheckpoint(resumed.r.checkpoint!), await ref(TOTAL), 'resumed from the older checkpoint, stopped, resumed');
  });

  it('a closed stderr (cornernet train 2>&1 | head -1) does not end the run; Ctrl-C afterwards still saves', async () => {
    const wd = path.join(root, 'epipe');
    const c = cli(wd, []);
    // The reader goes away after the first line, as `head -1` does.
    await waitFor(() => c.stderr().length > 0, c.child, c.stderr, 'the first line');
    c.child.stderr!.destroy();
    await waitFor(() => loggedIter(wd) >= 3, c.child, c.stderr, 'iteration 3');
    c.child.kill('SIGINT');
    assert.equal(await c.exit, 130, c.stderr());
    const ck = (await latestCheckpoint(wd))!;
    assert.ok(ck.meta.iter >= 3, String(ck.meta.iter));
    assert.equal(ck.meta.iter, loggedIter(wd));
  });
});
