// `cornernet detect` as a user runs it (child processes): inputs that are not
// regular files are refused before anything reads them, and --out never
// overwrites an input nor draws two inputs to one file.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { cornernet, makeCliFixture, makeFifo, type CliFixture } from './cli_fixture';

interface DetectOut {
  file: string;
  drawn?: string;
  detections: unknown[];
}

describe('cornernet detect', function () {
  this.timeout(60_000);
  let f: CliFixture;
  before(async () => {
    f = await makeCliFixture('cli-detect', { train: 1, val: 2 });
  });
  after(() => fs.rmSync(f.dir, { recursive: true, force: true }));

  it('refuses a FIFO among the images, naming it, instead of hanging', () => {
    const fifo = path.join(f.dir, 'pipe.jpg');
    makeFifo(fifo);
    const r = cornernet(['detect', '--weights', f.weights, f.images('val')[0]!, fifo], { timeoutMs: 20_000 });
    assert.equal(r.signal, null, `detect hung on a FIFO (killed after 20 s)\n${r.stderr}`);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, `cornernet: ${fifo}: not a regular file (a FIFO (named pipe)), refused: an image must be a regular file\n`);
  });

  it('--out in the input\'s folder keeps the input and draws to <name>-1.png', () => {
    const dir = path.join(f.dir, 'same');
    fs.mkdirSync(dir);
    const input = path.join(dir, 'photo.png');
    fs.copyFileSync(f.images('val')[0]!, input);
    const before = fs.readFileSync(input);
    const r = cornernet(['detect', '--weights', f.weights, '--out', dir, input]);
    assert.equal(r.status, 0, r.stderr);
    const [d] = JSON.parse(r.stdout) as DetectOut[];
    assert.equal(d!.drawn, path.join(dir, 'photo-1.png'));
    assert.ok(fs.readFileSync(input).equals(before), 'the input image was overwritten');
    assert.ok(fs.statSync(d!.drawn!).size > 0);
  });

  it('draws inputs with the same name from different folders to distinct files', () => {
    const out = path.join(f.dir, 'drawn');
    const inputs = ['a', 'b'].map((sub, i) => {
      fs.mkdirSync(path.join(f.dir, sub));
      const p = path.join(f.dir, sub, 'img.jpg');
      fs.copyFileSync(f.images('val')[i]!, p);
      return p;
    });
    const r = cornernet(['detect', '--weights', f.weights, '--score-thr', '0', '--out', out, ...inputs]);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout) as DetectOut[];
    assert.deepEqual(res.map((d) => d.drawn), [path.join(out, 'img.png'), path.join(out, 'img-1.png')]);
    // Each file is its own image's drawing: the two inputs differ, so do the two outputs.
    const [a, b] = res.map((d) => fs.readFileSync(d.drawn!));
    assert.ok(!a!.equals(b!), 'both outputs hold the same drawing');
  });
});
