// train() as the package exports it: a config object, progress events as plain
// objects (steps, evaluated images, checkpoints), quiet by default, cancellable
// with an AbortSignal, and the result with the work dir and final metrics.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { loadDetector } from '../../lib/detector';
import { loadCheckpoint } from '../../lib/train/checkpoint';
import type { TrainCheckpointEvent, TrainEvalEvent, TrainProgressEvent, TrainStepEvent } from '../../lib/train/loop';
import { train } from '../../lib/train/train_api';
import { SMALL_SYNTH } from './small_run';

// The reduced job of small_run.ts (SMALL), as a config object extending the recipe.
const smallConfig = {
  extends: 'shapes-tiny',
  name: 'api-small',
  data: { synth: { ...SMALL_SYNTH }, inputSize: 64, workers: 2 },
  train: { batchSize: 4, epochs: 2 },
  evaluation: { flip: false, intervalEpochs: 1 },
  log: { intervalIters: 1 },
  schedule: { warmupIters: 2, steps: [1] },
};

describe('train() from code', function () {
  this.timeout(300_000);
  let root: string;
  let cache: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-train-api-'));
    cache = path.join(root, 'cache');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('takes a config object, reports every step, evaluation and checkpoint, and resolves with the work dir and metrics', async () => {
    const events: TrainProgressEvent[] = [];
    const workDir = path.join(root, 'run');
    const r = await train(smallConfig, { workDir, cacheRoot: cache, maxIters: 10, onProgress: (e) => events.push(structuredClone(e)) });
    assert.equal(r.workDir, workDir);
    assert.equal(r.config.name, 'api-small');
    assert.equal(r.iterations, 10);
    assert.equal(r.stopped, 'max-iters');

    const steps = events.filter((e): e is TrainStepEvent => e.phase === 'train');
    assert.deepEqual(steps.map((e) => e.iteration), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(steps.map((e) => e.epoch), [1, 1, 1, 1, 1, 1, 1, 1, 2, 2]);
    for (const e of steps) {
      assert.equal(e.totalIterations, 10);
      for (const k of ['det', 'pull', 'push', 'off', 'total', 'det_l0']) assert.ok(Number.isFinite(e.losses[k]), `${k} at ${e.iteration}`);
      assert.ok(e.lr > 0 && e.imagesPerSecond > 0 && e.etaSeconds >= 0 && Number.isFinite(e.gradNorm), JSON.stringify(e));
    }
    assert.equal(steps[9]!.etaSeconds, 0);
    assert.ok(steps[0]!.lr < steps[3]!.lr, 'warmup: the learning rate rises');

    // Epoch 1 ends with a checkpoint then an evaluation; the run with a checkpoint and the final evaluation.
    const checkpoints = events.filter((e): e is TrainCheckpointEvent => e.phase === 'checkpoint');
    assert.deepEqual(checkpoints.map((e) => [e.iteration, e.epoch]), [[8, 1], [10, 2]]);
    for (const e of checkpoints) assert.equal((await loadCheckpoint(e.file)).meta.iter, e.iteration);
    assert.equal(r.checkpoint, checkpoints[1]!.file);
    // The checkpoint records the dataset's category ids: a detector on it reports them, not class indices.
    const annotations = (fs.readdirSync(cache, { recursive: true }) as string[]).find((p) => p.endsWith('instances_train.json'))!;
    const categories = (JSON.parse(fs.readFileSync(path.join(cache, annotations), 'utf8')) as { categories: { id: number; name: string }[] }).categories;
    await using det = await loadDetector({ weights: r.checkpoint!, device: 'cpu' });
    assert.deepEqual([...det.categoryIds], [...categories].sort((a, b) => a.id - b.id).map((k) => k.id));
    assert.deepEqual([...det.classNames], [...categories].sort((a, b) => a.id - b.id).map((k) => k.name));
    const evals = events.filter((e): e is TrainEvalEvent => e.phase === 'eval');
    const finished = evals.filter((e) => e.stats);
    assert.deepEqual(finished.map((e) => e.iteration), [8, 10]);
    const perImage = evals.filter((e) => !e.stats && e.iteration === 8).map((e) => e.imagesDone);
    assert.deepEqual(perImage, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(finished[1]!.stats, r.eval!.stats);
    assert.equal(r.eval!.stats.length, 12);
    // The order a run reports in: steps 1-8, checkpoint, evaluation, steps 9-10, checkpoint, evaluation.
    const order = events.map((e) => e.phase).filter((p, i, a) => p !== a[i - 1]);
    assert.deepEqual(order, ['train', 'checkpoint', 'eval', 'train', 'checkpoint', 'eval']);
    for (const f of ['config.json', 'metrics.jsonl', 'eval.json', 'report.html']) assert.ok(fs.existsSync(path.join(workDir, f)), f);
  });

  it('an AbortSignal stops it after the step in flight with a checkpoint; resume continues', async () => {
    const ctl = new AbortController();
    const workDir = path.join(root, 'abort');
    const r = await train(smallConfig, {
      workDir, cacheRoot: cache, signal: ctl.signal,
      onProgress: (e) => {
        if (e.phase === 'train' && e.iteration === 3) ctl.abort();
      },
    });
    assert.equal(r.stopped, 'interrupted');
    assert.ok(r.iterations >= 3 && r.iterations < 8, String(r.iterations));
    assert.equal((await loadCheckpoint(r.checkpoint!)).meta.iter, r.iterations);
    assert.equal(r.eval, null);
    const resumed = await train(smallConfig, { workDir, cacheRoot: cache, resume: true, maxIters: 8 });
    assert.equal(resumed.iterations, 8);
  });

  it('an already aborted signal starts nothing', async () => {
    const workDir = path.join(root, 'never');
    await assert.rejects(train(smallConfig, { workDir, cacheRoot: cache, signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(fs.existsSync(workDir), false);
  });

  it('an onProgress handler that throws ends the run with its message', async () => {
    const workDir = path.join(root, 'throws');
    await assert.rejects(
      train(smallConfig, {
        workDir, cacheRoot: cache,
        onProgress: (e) => {
          if (e.phase === 'train' && e.iteration === 2) throw new Error('dashboard is down');
        },
      }),
      /training stopped at iteration 2: the onProgress handler threw: dashboard is down/,
    );
  });

  it('names the key of a bad config object', async () => {
    await assert.rejects(train({ ...smallConfig, train: { batchSize: 0 } }, { workDir: path.join(root, 'bad'), cacheRoot: cache }), /config\.train\.batchSize/);
    await assert.rejects(train({ extends: 'shapes-huge' }, { cacheRoot: cache }), /^Error: config: "extends" must name a preset \(.*shapes-tiny.*\), got "shapes-huge"/);
    await assert.rejects(train([] as never, { cacheRoot: cache }), /^Error: config: expected a JSON object/);
  });
});
