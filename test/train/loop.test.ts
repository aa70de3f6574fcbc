// The training command end to end at a reduced size: artefacts, resume
// equivalence, interruption, NaN stop, config errors.
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { packageRoot } from '../../lib/native';
import { listCheckpoints, loadCheckpoint } from '../../lib/train/checkpoint';
import { train, type TrainOptions } from '../../lib/train/loop';
import { resolveConfig } from '../../lib/train/resolve_config';
import { SMALL, Sink } from './small_run';

describe('train/loop (cornernet train)', function () {
  this.timeout(300000);
  let root: string;
  let cache: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-train-'));
    cache = path.join(root, 'cache');
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const run = (workDir: string, extra: Partial<TrainOptions> = {}, set: string[] = []) => {
    const sink = new Sink();
    return train({ config: 'shapes-tiny', workDir, cacheRoot: cache, progressStream: sink, tty: false, set: [...SMALL, ...set], ...extra }).then((r) => ({ r, out: sink.text }));
  };

  it('runs the default job at a reduced size and leaves every artefact', async () => {
    const wd = path.join(root, 'full');
    const { r, out } = await run(wd, { maxIters: 10 });
    assert.equal(r.stopped, 'max-iters');
    assert.equal(r.iterations, 10);
    for (const f of ['config.json', 'metrics.jsonl', 'eval.json', 'report.html']) assert.ok(fs.existsSync(path.join(wd, f)), f);
    const cfg = JSON.parse(fs.readFileSync(path.join(wd, 'config.json'), 'utf8'));
    assert.equal(cfg.model.numClasses, 5, 'classes follow the dataset');
    const ev = JSON.parse(fs.readFileSync(path.join(wd, 'eval.json'), 'utf8'));
    assert.equal(ev.stats.length, 12);
    assert.equal(ev.perCategory.length, 5);
    const lines = fs.readFileSync(path.join(wd, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.filter((l) => l.kind === 'train').length >= 10);
    assert.ok(lines.some((l) => l.kind === 'eval'));
    assert.ok(listCheckpoints(wd).length >= 1);
    assert.match(fs.readFileSync(path.join(wd, 'report.html'), 'utf8'), /<svg /);
    assert.match(out, /\[train\] \d+\/10 /);
    assert.match(out, /Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95/);
  });

  it('a run stopped and resumed gives the same weights as an uninterrupted one', async () => {
    const straight = await run(path.join(root, 'straight'), { maxIters: 6 }, ['evaluation.intervalEpochs=5']);
    const wd = path.join(root, 'resumed');
    const first = await run(wd, { maxIters: 3 }, ['evaluation.intervalEpochs=5']);
    assert.equal(first.r.iterations, 3);
    const second = await run(wd, { maxIters: 6, resume: true }, ['evaluation.intervalEpochs=5']);
    assert.equal(second.r.iterations, 6);
    const a = await loadCheckpoint(straight.r.checkpoint!);
    const b = await loadCheckpoint(second.r.checkpoint!);
    assert.equal(a.meta.iter, 6);
    assert.equal(b.meta.iter, 6);
    for (const [k, v] of Object.entries(a.state.stateDict)) {
      const w = b.state.stateDict[k]!;
      assert.deepEqual(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength), Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength), k);
    }
  });

  it('an abort stops after the step in flight, saves a checkpoint and says how to resume', async () => {
    const ctl = new AbortController();
    const wd = path.join(root, 'abort');
    const p = run(wd, { signal: ctl.signal });
    // Abort once the first step has been logged.
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (fs.existsSync(path.join(wd, 'metrics.jsonl'))) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
    ctl.abort();
    const { r, out } = await p;
    assert.equal(r.stopped, 'interrupted');
    assert.ok(r.iterations >= 1 && r.iterations < 16, String(r.iterations));
    const ck = await loadCheckpoint(r.checkpoint!);
    assert.equal(ck.meta.iter, r.iterations);
    assert.match(out, /interrupted at iteration \d+: checkpoint .*--resume/);
  });

  it('stops on a non-finite loss, naming the term and the iteration; saved checkpoints stay loadable', async () => {
    const wd = path.join(root, 'nan');
    await assert.rejects(run(wd, { maxIters: 12 }, ['optimizer.lr=1e30', 'optimizer.gradClip=null', 'schedule.warmupIters=0', 'checkpoint.intervalIters=1']), (e: Error) =>
      /training stopped at iteration \d+: the (det|pull|push|off) \(stack 0\) loss is NaN or infinite|gradient norm/.test(e.message),
    );
    for (const f of listCheckpoints(wd)) await loadCheckpoint(f);
  });

  it('rejects bad configs naming the key', () => {
    assert.throws(() => resolveConfig('shapes-tiny', { set: ['train.batchSize=-1'] }), /config\.train\.batchSize/);
    assert.throws(() => resolveConfig('shapes-tiny', { set: ['model.stageChannels=[1,2]'] }), /config\.model/);
    assert.throws(() => resolveConfig('shapes-tiny', { set: ['data.classes="all"'] }), /config\.data\.classes/);
    assert.throws(() => resolveConfig('shapes-tiny', { set: ['data.augment.cropRatios=[]'] }), /config\.data\.augment\.cropRatios/);
    assert.throws(() => resolveConfig('shapes-tiny', { set: ['data.augment.flipRatio=2'] }), /config\.data\.augment\.flipRatio/);
    assert.throws(() => resolveConfig('shapes-tiny', { set: ['data.augment.blur=true'] }), /config\.data\.augment.*blur/);
    assert.throws(() => resolveConfig('nonexistent-recipe'), /not a preset \(.*shapes-tiny.*\) nor a JSON file/);
    const f = path.join(root, 'bad.json');
    fs.writeFileSync(f, '{"extends": "shapes-tiny", "optimizer": {"lr": "fast"}}');
    assert.throws(() => resolveConfig(f), /config\.optimizer\.lr: .*got "fast"/);
  });

  it("a config written before data.augment existed trains with the reference's augmentation", () => {
    const old = resolveConfig('shapes-tiny') as unknown as { data: Record<string, unknown> };
    delete old.data.augment;
    const f = path.join(root, 'before_augment.json');
    fs.writeFileSync(f, JSON.stringify(old));
    assert.deepEqual(resolveConfig(f).data.augment, { photometric: true, cropRatios: [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3], flipRatio: 0.5 });
  });

  it('cornernet train exits 130 on SIGINT after saving a checkpoint', async () => {
    const wd = path.join(root, 'sigint');
    const args = [path.join(packageRoot, 'bin', 'cornernet.js'), 'train', '--work-dir', wd, ...SMALL.flatMap((s) => ['--set', s])];
    const child = spawn(process.execPath, args, { env: { ...process.env, CORNERNET_CACHE: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (/\[train\] 1\//.test(err)) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 130, err);
    assert.match(err, /SIGINT: stopping after the current step/);
    assert.ok(listCheckpoints(wd).length >= 1);
  });
});
