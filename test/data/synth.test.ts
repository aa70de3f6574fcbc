import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { loadCoco, summarize } from '../../lib/data/coco_loader';
import { decodeImage } from '../../lib/data/image_decode';
import { Rng } from '../../lib/data/rng';
import { ensureSynthDataset, synthCacheDir } from '../../lib/data/synth_cache';
import { scanPolygon } from '../../lib/data/synth/raster';
import { renderScene } from '../../lib/data/synth/scene';
import { writeSynthDataset } from '../../lib/data/synth/write_dataset';
import { tmpDir } from './coco_fixture';

function filesOf(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

describe('data/synth', () => {
  it('the rasteriser covers pixel centres inside the polygon', () => {
    const covered: string[] = [];
    // A 4x3 rectangle from (1, 1): exactly pixels x 1..4, y 1..3.
    scanPolygon([[1, 1], [5, 1], [5, 4], [1, 4]], 8, 8, (y, x0, x1) => covered.push(`${y}:${x0}-${x1}`));
    assert.deepEqual(covered, ['1:1-5', '2:1-5', '3:1-5']);
    // A triangle's row widths shrink; clipped at the canvas edge.
    const rows: number[] = [];
    scanPolygon([[-4, 0], [4, 0], [-4, 8]], 8, 8, (_y, x0, x1) => rows.push(x1 - x0));
    assert.deepEqual(rows, [3, 2, 1]);
  });

  it('boxes are the exact bounds of each object\'s visible pixels', () => {
    for (let i = 0; i < 30; i++) {
      const s = renderScene(new Rng(11, i), { size: 96 });
      assert.ok(s.objects.length >= 1);
      s.objects.forEach((o, k) => {
        const [x, y, w, h] = o.bbox;
        let count = 0;
        for (let yy = 0; yy < s.height; yy++)
          for (let xx = 0; xx < s.width; xx++)
            if (s.instance[yy * s.width + xx] === k) {
              count++;
              assert.ok(xx >= x && xx < x + w && yy >= y && yy < y + h, 'pixel outside its box');
            }
        assert.equal(count, o.area);
        // Each edge of the box touches the object.
        const on = (xx: number, yy: number) => s.instance[yy * s.width + xx] === k;
        assert.ok(Array.from({ length: h }, (_, d) => on(x, y + d)).some(Boolean), 'left edge');
        assert.ok(Array.from({ length: h }, (_, d) => on(x + w - 1, y + d)).some(Boolean), 'right edge');
        assert.ok(Array.from({ length: w }, (_, d) => on(x + d, y)).some(Boolean), 'top edge');
        assert.ok(Array.from({ length: w }, (_, d) => on(x + d, y + h - 1)).some(Boolean), 'bottom edge');
        assert.ok(o.area >= 30);
      });
    }
  });

  it('an unoccluded shape\'s box matches its geometry', () => {
    let checked = 0;
    for (let i = 0; i < 40 && checked < 10; i++) {
      const s = renderScene(new Rng(5, i), { size: 128, maxObjects: 1 });
      const o = s.objects[0]!;
      const xs = o.polygon.map((p) => p[0]), ys = o.polygon.map((p) => p[1]);
      const [x, y, w, h] = o.bbox;
      // Pixel centres inside the outline: the bounds sit within a pixel of the outline's extent,
      // a little more at a sharp vertex (a triangle's apex holds no pixel centre for its first ~2 px).
      const tol = 2.5;
      assert.ok(Math.abs(x - Math.min(...xs)) <= tol && Math.abs(x + w - Math.max(...xs)) <= tol, `x ${x},${w} vs ${Math.min(...xs)}..${Math.max(...xs)}`);
      assert.ok(Math.abs(y - Math.min(...ys)) <= tol && Math.abs(y + h - Math.max(...ys)) <= tol, `y ${y},${h} vs ${Math.min(...ys)}..${Math.max(...ys)}`);
      checked++;
    }
    assert.equal(checked, 10);
  });

  it('writes COCO layout that loads through the COCO loader; the JPEGs show the shapes inside their boxes', async () => {
    const out = tmpDir('synth');
    const r = await writeSynthDataset(out, { train: 8, val: 3, size: 64, seed: 4 });
    assert.ok(fs.existsSync(path.join(out, 'annotations', 'instances_train.json')));
    const ds = await loadCoco(path.join(out, 'annotations', 'instances_train.json'), { imageDir: path.join(out, 'train') });
    assert.equal(ds.images.length, 8);
    assert.equal(ds.annotations.count, r.annotations.train);
    assert.deepEqual(ds.issues, []);
    assert.deepEqual(ds.categories.map((c) => c.name), ['circle', 'rectangle', 'triangle', 'diamond', 'cross']);
    assert.equal(ds.segmentation.polygon, ds.annotations.count);
    assert.equal(summarize(ds).trainImages, 8);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'annotations', 'instances_val.json'), 'utf8'));
    for (const k of ['info', 'licenses', 'images', 'annotations', 'categories']) assert.ok(k in json, k);
    assert.equal(json.annotations[0].iscrowd, 0);
    // The decoded JPEG matches the scene it came from (the generator's own RNG stream).
    for (let i = 0; i < 8; i++) {
      const scene = renderScene(new Rng(4, 'train', i), { size: 64 });
      const img = await decodeImage(path.join(out, 'train', ds.images[i]!.fileName));
      let err = 0;
      for (let p = 0; p < scene.rgb.length; p++) err += Math.abs(img.tensor.data[p]! - scene.rgb[p]!);
      assert.ok(err / scene.rgb.length < 6, `mean JPEG error ${err / scene.rgb.length}`);
      const boxes = JSON.parse(fs.readFileSync(path.join(out, 'annotations', 'instances_train.json'), 'utf8')).annotations.filter((a: { image_id: number }) => a.image_id === i + 1);
      assert.deepEqual(boxes.map((a: { bbox: number[] }) => a.bbox), scene.objects.map((o) => o.bbox));
    }
  });

  it('the same seed gives the same bytes, another seed other bytes', async () => {
    const a = tmpDir('synth-a'), b = tmpDir('synth-b'), c = tmpDir('synth-c');
    await writeSynthDataset(a, { train: 6, val: 2, size: 48, seed: 9, concurrency: 1 });
    await writeSynthDataset(b, { train: 6, val: 2, size: 48, seed: 9, concurrency: 5 });
    await writeSynthDataset(c, { train: 6, val: 2, size: 48, seed: 10 });
    const fa = filesOf(a);
    assert.deepEqual(fa, filesOf(b));
    assert.equal(fa.length, 2 + 6 + 2);
    for (const f of fa) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), f);
    assert.ok(!fs.readFileSync(path.join(a, 'train', fa.find((f) => f.endsWith('.jpg'))!.split('/').pop()!)).equals(fs.readFileSync(path.join(c, 'train', '000000000001.jpg'))));
  });

  it('rejects bad parameters with the option name', async () => {
    await assert.rejects(writeSynthDataset(tmpDir('bad'), { train: -1, val: 0, size: 64, seed: 0 }), /--train must be an integer >= 0/);
    await assert.rejects(writeSynthDataset(tmpDir('bad'), { train: 1, val: 0, size: 8, seed: 0 }), /--size must be an integer >= 32/);
  });

  it('the cache generates once, atomically, then reuses', async () => {
    const root = tmpDir('cache');
    const o = { train: 4, val: 2, size: 40, seed: 1 };
    const first = await ensureSynthDataset(o, { root });
    assert.equal(first.generated, true);
    assert.equal(first.dir, synthCacheDir(o, root));
    const mtime = fs.statSync(path.join(first.dir, 'annotations', 'instances_train.json')).mtimeMs;
    const second = await ensureSynthDataset(o, { root });
    assert.equal(second.generated, false);
    assert.equal(fs.statSync(path.join(first.dir, 'annotations', 'instances_train.json')).mtimeMs, mtime);
    assert.deepEqual(fs.readdirSync(path.dirname(first.dir)), [path.basename(first.dir)], 'no temporary folder left');
    // A folder without the completion marker (an interrupted older run) is regenerated.
    fs.rmSync(path.join(first.dir, '.complete'));
    assert.equal((await ensureSynthDataset(o, { root })).generated, true);
    assert.notEqual(synthCacheDir({ ...o, seed: 2 }, root), first.dir);
  });

  it('the next start removes the temp folder of a killed generation, not that of a running one', async function () {
    this.timeout(60000);
    const root = tmpDir('cache');
    const big = { train: 5000, val: 0, size: 64, seed: 0 };
    const datasets = path.dirname(synthCacheDir(big, root));
    const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, '../../lib/data/synth_cache.js'))}).ensureSynthDataset(${JSON.stringify(big)}, { root: ${JSON.stringify(root)} })`], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    const temps = () => (fs.existsSync(datasets) ? fs.readdirSync(datasets).filter((f) => f.includes('.tmp-')) : []);
    while (temps().length === 0) {
      assert.equal(child.exitCode, null, 'the generation ended before it could be killed');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await exited;
    const killed = temps();
    assert.equal(killed.length, 1);
    // One of a generation still running (this process) stays.
    const running = `${synthCacheDir({ ...big, seed: 1 }, root)}.tmp-${process.pid}-${Date.now()}`;
    fs.mkdirSync(running);
    const logs: string[] = [];
    const small = { train: 2, val: 1, size: 32, seed: 0 };
    await ensureSynthDataset(small, { root, log: (l) => logs.push(l) });
    assert.deepEqual(temps(), [path.basename(running)]);
    assert.ok(logs.some((l) => l.includes(killed[0]!) && /interrupted dataset generation/.test(l)), logs.join('\n'));
    // Also when the dataset asked for is already there.
    fs.rmSync(running, { recursive: true });
    fs.mkdirSync(`${synthCacheDir(big, root)}.tmp-${child.pid}-1`);
    assert.equal((await ensureSynthDataset(small, { root })).generated, false);
    assert.deepEqual(temps(), []);
    fs.rmSync(root, { recursive: true, force: true });
  });
});
