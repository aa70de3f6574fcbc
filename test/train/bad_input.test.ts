// Training runs that cannot train must fail, naming why (issue 14): every image
// missing or of the wrong size, an absurd input size, weights made non-finite
// by the last update, a checkpoint without its config. As child processes: the
// exit status is part of the contract.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { writeSynthDataset } from '../../lib/data/synth/write_dataset';
import { loadSafetensors, saveSafetensors } from '../../lib/io/safetensors';
import { packageRoot } from '../../lib/native';
import { listCheckpoints } from '../../lib/train/checkpoint';

const SMALL = ['--device', 'cpu', '--set', 'data.inputSize=64', '--set', 'data.workers=2', '--set', 'train.batchSize=4', '--set', 'evaluation.flip=false'];

function train(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(packageRoot, 'bin', 'cornernet.js'), 'train', ...SMALL, ...args], { encoding: 'utf8' });
  return { code: r.status, err: r.stderr };
}

describe('cornernet train: a run that cannot train fails, naming why', function () {
  this.timeout(120000);
  let root: string;
  // A fresh copy of an 8-image dataset (and 4 val images) per test.
  const dataset = async (name: string) => {
    const d = path.join(root, name);
    await writeSynthDataset(d, { train: 8, val: 4, size: 64, seed: 1 });
    return d;
  };
  before(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-bad-train-'))));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('every training image missing: exit 1 naming the images, not "finished: 0 iterations"', async () => {
    const d = await dataset('missing');
    for (const f of fs.readdirSync(path.join(d, 'train'))) fs.rmSync(path.join(d, 'train', f));
    const r = train(['--data', d, '--work-dir', path.join(root, 'wd-missing')]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /cornernet: data: no training batch can be made: 8 of the 8 training images of .*instances_train\.json were skipped, leaving 0, fewer than a batch of 4; [^;]*\/train\/0000000000\d\d\.jpg: file not found \(images\[\d\] \(id \d\)\); .*; \.\.\. 5 more$/m);
    assert.doesNotMatch(r.err, /finished: 0 iterations/);
  });

  it("every image's size disagreeing with its annotation: exit 1 naming the sizes", async () => {
    const d = await dataset('sizes');
    const ann = path.join(d, 'annotations', 'instances_train.json');
    const j = JSON.parse(fs.readFileSync(ann, 'utf8')) as { images: { width: number; height: number }[] };
    for (const im of j.images) (im.width = 80), (im.height = 80);
    fs.writeFileSync(ann, JSON.stringify(j));
    const r = train(['--data', d, '--work-dir', path.join(root, 'wd-sizes')]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /no training batch can be made: 8 of the 8 .*decoded size 64x64 differs from the annotation's 80x80/);
  });

  it('an absurd data.inputSize is a config error naming the key', () => {
    for (const v of ['3', '100000']) {
      const r = train(['--set', `data.inputSize=${v}`, '--work-dir', path.join(root, 'wd-size')]);
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, new RegExp(`config\\.data\\.inputSize: .*got ${v}`));
    }
  });

  it("weights made non-finite by the last update stop training with the guard's message, before any evaluation", async () => {
    const d = await dataset('diverge');
    const r = train(['--data', d, '--work-dir', path.join(root, 'wd-diverge'), '--max-iters', '1', '--set', 'optimizer.lr=1e39', '--set', 'optimizer.gradClip=null', '--set', 'schedule.warmupIters=0']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /cornernet: training stopped at iteration 1: [\w.]+ holds NaN or infinite values after that step's update, though its loss was finite \(optimizer\.lr 1e\+39 is too large\?\)/);
    assert.doesNotMatch(r.err, /decodeAsync|holds NaN \(channel/);
    assert.equal(listCheckpoints(path.join(root, 'wd-diverge')).length, 0, 'nothing non-finite was saved');
    // Finite weights so large that the eval-mode forward overflows: the evaluation says the run diverged.
    const huge = train(['--data', d, '--work-dir', path.join(root, 'wd-huge'), '--max-iters', '1', '--set', 'optimizer.lr=1e20', '--set', 'optimizer.gradClip=null', '--set', 'schedule.warmupIters=0']);
    assert.equal(huge.code, 1, huge.err);
    assert.match(huge.err, /cornernet: training stopped at iteration 1: the model's outputs on the val images are NaN \(.*\) though every loss was finite: the weights have diverged \(largest \|weight\| 1\.0e\+20, in [\w.]+; optimizer\.lr 100000000000000000000 is too large\?\)/);
  });

  it('--resume from a checkpoint whose metadata holds no config names that, not "--device undefined"', async () => {
    const d = await dataset('resume');
    const wd = path.join(root, 'wd-resume');
    assert.equal(train(['--data', d, '--work-dir', wd, '--max-iters', '1']).code, 0);
    const ck = listCheckpoints(wd).pop()!;
    const f = loadSafetensors(ck);
    const meta = JSON.parse(f.metadata!.meta!) as Record<string, unknown>;
    const emptied = path.join(root, 'emptied.safetensors');
    saveSafetensors(emptied, f.tensors, { ...f.metadata, meta: JSON.stringify({ ...meta, config: {} }) } as Record<string, string>);
    const r = train(['--resume', emptied, '--work-dir', wd]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /cornernet: .*emptied\.safetensors: cannot resume from it: the training config in its metadata \(meta\.config\) is missing or empty/);
    assert.doesNotMatch(r.err, /undefined/);
    saveSafetensors(emptied, f.tensors, { ...f.metadata, meta: JSON.stringify({ ...meta, config: { ...(meta.config as object), device: 7 } }) } as Record<string, string>);
    assert.match(train(['--resume', emptied, '--work-dir', wd]).err, /the training config in its metadata is unusable: invalid config:\nconfig\.device: /);
  });

  it('the synthetic dataset writer names --max-objects (JS API)', async () => {
    await assert.rejects(writeSynthDataset(path.join(root, 's'), { train: 1, val: 0, size: 64, seed: 0, maxObjects: 0 }), /synth: --max-objects must be an integer >= 1, got 0/);
  });
});
