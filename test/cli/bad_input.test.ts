// Bad input on the command line (issue 14, sections 3 and 4), as child processes:
// every case must end with exit status 1 and one `cornernet:` line naming the flag,
// file or field at fault.
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

import sharp from 'sharp';

import { saveSafetensors, loadSafetensors } from '../../lib/io/safetensors';
import { packageRoot } from '../../lib/native';
import { parityDir } from '../helpers/parity_dir';

function cornernet(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(packageRoot, 'bin', 'cornernet.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function fails(args: string[], message: RegExp): void {
  const r = cornernet(args);
  assert.strictEqual(r.code, 1, `${args.join(' ')}: exit ${r.code}\n${r.err}`);
  assert.match(r.err, message, args.join(' '));
  assert.doesNotMatch(r.err, /^\s+at /m, 'no stack trace');
}

describe('cornernet: bad input is refused, naming the fault', function () {
  this.timeout(60000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-bad-cli-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('numeric flags of every command are checked, naming the flag', () => {
    for (const v of ['-1', 'abc', '0', '1.5'])
      fails(['test', '--weights', 'w.safetensors', '--data', dir, '--max-images', v], /cornernet: --max-images must be a positive integer, got/);
    fails(['detect', '--weights', 'w.safetensors', 'a.png', '--score-thr', 'abc'], /cornernet: --score-thr must be a number in \[0, 1\], got something that is not a number/);
    fails(['detect', '--weights', 'w.safetensors', 'a.png', '--score-thr', '2'], /--score-thr must be a number in \[0, 1\], got 2/);
    fails(['synth', '--out', path.join(dir, 's'), '--max-objects', '0'], /cornernet: --max-objects must be a positive integer, got 0/);
    fails(['synth', '--out', path.join(dir, 's'), '--size', 'abc'], /cornernet: --size must be an integer in \[32, 4096\]/);
    fails(['train', '--max-minutes', 'abc'], /cornernet: --max-minutes must be a positive number/);
    fails(['model', '--seed', '-1'], /cornernet: --seed must be a non-negative integer, got -1/);
    fails(['test', '--weights', 'w', '--data', dir, '--max-images', '1', '--max-images', '2'], /--max-images is given 2 times/);
    assert.ok(!fs.existsSync(path.join(dir, 's')), 'synth wrote nothing');
  });

  it('JSON files with a UTF-8 byte-order mark are read', () => {
    const gt = path.join(dir, 'gt.json'), dt = path.join(dir, 'dt.json');
    fs.writeFileSync(gt, `\ufeff${JSON.stringify({ images: [{ id: 1, width: 10, height: 10 }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 4, 4], area: 16, iscrowd: 0 }], categories: [{ id: 1, name: 'x' }] })}`);
    fs.writeFileSync(dt, `\ufeff${JSON.stringify([{ image_id: 1, category_id: 1, bbox: [1, 1, 4, 4], score: 0.9 }])}`);
    const r = cornernet(['eval', '--gt', gt, '--dt', dt, '--json']);
    assert.strictEqual(r.code, 0, r.err);
    assert.ok((JSON.parse(r.out) as { stats: number[] }).stats[0]! > 0.99, r.out);
  });

  it('deeply nested JSON names the file and the path', () => {
    const gt = path.join(dir, 'gt.json'), dt = path.join(dir, 'deep.json');
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    fs.writeFileSync(dt, `[{"image_id": 1, "category_id": 1, "bbox": ${deep}, "score": 1}]`);
    fails(['eval', '--gt', gt, '--dt', dt], /cornernet: .*deep\.json: \[0\]\.bbox\[0\]\[0\].*: nested deeper than 256 levels/);
  });

  it('an image too large to transform is refused with its size and the limit, before it is decoded', async () => {
    // A PNG whose header says 12000x12000 (its pixel data is a 16x16 image's): only the header is read.
    const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toBuffer();
    png.writeUInt32BE(12000, 16);
    png.writeUInt32BE(12000, 20);
    png.writeUInt32BE(zlib.crc32(png.subarray(12, 29)), 29);
    const big = path.join(dir, 'big.png');
    fs.writeFileSync(big, png);
    fails(['detect', '--weights', path.join(parityDir, 'weights.safetensors'), '--device', 'cpu', big],
      /cornernet: .*big\.png: the image is too large: 12000x12000 \(144000000 pixels\), more than the limit of 67108864 \(8192x8192\)/);
  });

  it('weights without an architecture ask for --config; --resume on plain weights points to what exists', () => {
    const plain = path.join(dir, 'plain.safetensors');
    saveSafetensors(plain, loadSafetensors(path.join(parityDir, 'weights.safetensors')).tensors);
    fails(['model', '--weights', plain], /cornernet: --weights .*plain\.safetensors: this file does not record its architecture; pass --config/);
    const r = cornernet(['model', '--weights', plain, '--config', 'hourglass104']);
    assert.strictEqual(r.code, 1);
    assert.match(r.err, /does not fit --config hourglass104 \(nothing was loaded\): \d+ entries missing .*Pass the --config the weights were trained with/);
    assert.ok(r.err.split('\n').length < 5, `a short message, got ${r.err.split('\n').length} lines`);
    assert.doesNotMatch(r.err, /strict: false/);
    fails(['train', '--resume', plain, '--work-dir', path.join(dir, 'wd')],
      /not a cornernet-native training checkpoint .*--resume continues only from a checkpoint `cornernet train` wrote.*`cornernet test`, `detect` or `model` --weights/);
  });
});
