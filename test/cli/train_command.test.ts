// `cornernet train` as a user runs it (a child process) on a dataset with bad
// image files: a FIFO among the training images is skipped like any unreadable
// image (not read: it would block forever), and an unreadable val image at the
// final evaluation ends the run with the file and the saved checkpoint named,
// never with an unhandled rejection.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { listCheckpoints } from '../../lib/train/checkpoint';
import { cornernet, makeCliFixture, makeFifo, type CliFixture } from './cli_fixture';

const SMALL = ['data.inputSize=64', 'data.workers=1', 'train.batchSize=2', 'train.epochs=1', 'evaluation.flip=false', 'log.intervalIters=1',
  'schedule.warmupIters=1', 'schedule.steps=[1]'];

describe('cornernet train with bad image files', function () {
  this.timeout(90_000);
  let f: CliFixture;
  before(async () => {
    f = await makeCliFixture('cli-train', { train: 5, val: 3 });
  });
  after(() => fs.rmSync(f.dir, { recursive: true, force: true }));

  it('skips a FIFO training image, names the unreadable val image and the checkpoint when evaluating, and --resume evaluates once it is fixed', () => {
    const fifo = f.images('train')[2]!;
    fs.rmSync(fifo);
    makeFifo(fifo);
    const badVal = f.images('val')[1]!;
    const goodVal = fs.readFileSync(badVal);
    fs.writeFileSync(badVal, 'not an image');
    const wd = path.join(f.dir, 'work');
    const r = cornernet(['train', '--data', f.data, '--work-dir', wd, ...SMALL.flatMap((s) => ['--set', s])], { timeoutMs: 60_000 });
    assert.equal(r.signal, null, `train hung (killed after 60 s)\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`data: skipped ${escape(fifo)} \\(images\\[\\d+\\] \\(id \\d+\\)\\): ${escape(fifo)}: not a regular file \\(a FIFO`));
    assert.equal(r.status, 1, r.stderr);
    const ckpt = listCheckpoints(wd).at(-1);
    assert.ok(ckpt, 'a checkpoint was saved');
    const last = r.stderr.trim().split('\n').at(-1)!;
    assert.ok(last.startsWith(`cornernet: evaluation at iteration 2: ${badVal}: cannot be decoded (`), r.stderr);
    assert.ok(
      last.endsWith(
        `; the trained state is saved in ${ckpt}: once the val split is fixed, --resume continues from it ` +
          `(cornernet test --weights ${ckpt} --data ${f.data} evaluates it)`,
      ),
      r.stderr,
    );
    assert.doesNotMatch(r.stderr, /Unhandled|\n\s+at /, 'a raw stack or unhandled rejection');

    // As the message says: with the image fixed, --resume evaluates the saved state.
    fs.writeFileSync(badVal, goodVal);
    const resumed = cornernet(['train', '--data', f.data, '--work-dir', wd, '--resume'], { timeoutMs: 60_000 });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /eval: 3 val images in .*\n[^]*Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
