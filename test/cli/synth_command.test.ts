import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { main } from '../../lib/cli/index';
import { tmpDir } from '../data/coco_fixture';

describe('cli/synth', () => {
  it('cornernet synth writes a COCO-layout dataset', async () => {
    const out = path.join(tmpDir('cli-synth'), 'ds');
    const write = process.stdout.write;
    let printed = '';
    process.stdout.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write;
    try {
      await main(['synth', '--out', out, '--train', '3', '--val', '2', '--size', '48', '--seed', '5']);
    } finally {
      process.stdout.write = write;
    }
    assert.match(printed, /train 3 images \/ \d+ boxes, val 2 images \/ \d+ boxes/);
    assert.equal(fs.readdirSync(path.join(out, 'train')).length, 3);
    assert.equal(fs.readdirSync(path.join(out, 'val')).length, 2);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'annotations', 'instances_val.json'), 'utf8'));
    assert.equal(j.images.length, 2);
    assert.equal(j.images[0].width, 48);
  });

  it('cornernet synth --kind varied writes the second kind: sizes around --size, ids 3, 7, 11, 20', async () => {
    const out = path.join(tmpDir('cli-synth-varied'), 'ds');
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await main(['synth', '--kind', 'varied', '--out', out, '--train', '4', '--val', '1', '--size', '90', '--seed', '5']);
    } finally {
      process.stdout.write = write;
    }
    const j = JSON.parse(fs.readFileSync(path.join(out, 'annotations', 'instances_train.json'), 'utf8'));
    assert.deepEqual(j.categories.map((c: { id: number }) => c.id), [3, 7, 11, 20]);
    for (const im of j.images) assert.ok(im.width >= 70 && im.width <= 110 && im.height >= 70 && im.height <= 110, `${im.width}x${im.height}`);
  });

  it('reports bad options as a message and exit code 1, not a crash', async () => {
    const write = process.stderr.write;
    let printed = '';
    process.stderr.write = ((s: string) => ((printed += s), true)) as typeof process.stderr.write;
    const before = process.exitCode;
    try {
      await main(['synth', '--out', path.join(tmpDir('cli-synth-bad'), 'ds'), '--size', '8']);
      assert.equal(process.exitCode, 1);
    } finally {
      process.stderr.write = write;
      process.exitCode = before;
    }
    assert.equal(printed, 'cornernet: --size must be an integer in [32, 4096], got 8\n');
  });
});
