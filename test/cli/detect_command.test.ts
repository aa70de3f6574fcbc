// `cornernet detect` as a user runs it (child processes): inputs that are not
// regular files are refused before anything reads them, --out never
// overwrites an input nor draws two inputs to one file, --time reports the
// milliseconds per image and --heatmaps draws the corner heat maps. (The
// detections themselves: test/detector/detector.test.ts, against cornernet test.)
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import sharp from 'sharp';

import { cornernet, makeCliFixture, makeFifo, type CliFixture } from './cli_fixture';

interface DetectOut {
  file: string;
  drawn?: string;
  device: string;
  timeMs?: { load: number; model: number };
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

  it('errors name the flags (--weights, --config, --device), as the other commands\' do', () => {
    const r = cornernet(['detect', '--weights', f.weights, '--config', 'hourglass52', f.images('val')[0]!]);
    assert.equal(r.status, 1);
    // Where no GPU works, `--device auto` first says so on its own line.
    assert.match(r.stderr, /^cornernet: --weights .*weights\.safetensors does not fit --config hourglass52 \(nothing was loaded\)/m);
    const d = cornernet(['detect', '--weights', f.weights, '--device', 'tpu', f.images('val')[0]!]);
    assert.match(d.stderr, /^cornernet: --device tpu: /);
  });

  it('--time prints the milliseconds per image and adds them to the JSON', () => {
    const r = cornernet(['detect', '--weights', f.weights, '--device', 'cpu', '--time', ...f.images('val')]);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout) as DetectOut[];
    for (const d of res) {
      assert.equal(d.device, 'cpu');
      assert.ok(d.timeMs && d.timeMs.load > 0 && d.timeMs.model > 0, JSON.stringify(d.timeMs));
      assert.match(r.stderr, new RegExp(`^${d.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ detections; load [\\d.]+ ms, model [\\d.]+ ms on cpu$`, 'm'));
    }
    assert.match(r.stderr, /^mean of 2 images: load [\d.]+ ms, model [\d.]+ ms on cpu$/m);
    const plain = cornernet(['detect', '--weights', f.weights, '--device', 'cpu', f.images('val')[0]!]);
    assert.equal((JSON.parse(plain.stdout) as DetectOut[])[0]!.timeMs, undefined, 'timings without --time');
  });

  it('--heatmaps writes the top-left and bottom-right corner maps over each image', async () => {
    const dir = path.join(f.dir, 'heat');
    const input = f.images('val')[0]!;
    const r = cornernet(['detect', '--weights', f.weights, '--device', 'cpu', '--heatmaps', dir, input]);
    assert.equal(r.status, 0, r.stderr);
    const name = path.basename(input, path.extname(input));
    assert.deepEqual(fs.readdirSync(dir).sort(), [`${name}-br.png`, `${name}-tl.png`]);
    const original = await sharp(input).removeAlpha().raw().toBuffer();
    const maps = [];
    for (const corner of ['tl', 'br']) {
      const { data, info } = await sharp(path.join(dir, `${name}-${corner}.png`)).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height, info.channels], [64, 64, 3], corner);
      assert.ok(!data.equals(original), `${corner}: the image is unchanged`);
      maps.push(data);
    }
    assert.ok(!maps[0]!.equals(maps[1]!), 'the tl and br drawings are the same');
  });
});
