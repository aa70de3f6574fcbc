// The second synthetic generator ('varied'): its own properties (image sizes,
// category ids, object counts, exact boxes), COCO validity through the loader,
// the same bytes per seed, and a cache key of its own.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { loadCoco } from '../../lib/data/coco_loader';
import { decodeImage } from '../../lib/data/image_decode';
import { Rng } from '../../lib/data/rng';
import { DEFAULT_SYNTH, synthCacheDir } from '../../lib/data/synth_cache';
import { renderVariedScene, variedSides } from '../../lib/data/synth/varied';
import { writeSynthDataset } from '../../lib/data/synth/write_dataset';
import { resolveConfig } from '../../lib/train/resolve_config';
import { tmpDir } from './coco_fixture';

function filesOf(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

describe('data/synth varied', () => {
  it('non-square images of 112-176 px at size 144, 2-5 objects of ids 3, 7, 11, 20, boxes exact', () => {
    assert.deepEqual(variedSides(144), [112, 176]);
    const widths = new Set<number>(), heights = new Set<number>(), ids = new Set<number>(), counts: number[] = [];
    let nonSquare = 0, overlapping = 0;
    for (let i = 0; i < 40; i++) {
      const s = renderVariedScene(new Rng(2, i), { size: 144 });
      assert.ok(s.width >= 112 && s.width <= 176 && s.height >= 112 && s.height <= 176, `${s.width}x${s.height}`);
      widths.add(s.width);
      heights.add(s.height);
      if (s.width !== s.height) nonSquare++;
      counts.push(s.objects.length);
      s.objects.forEach((o, k) => {
        ids.add(o.categoryId);
        const [x, y, w, h] = o.bbox;
        let count = 0;
        for (let yy = 0; yy < s.height; yy++)
          for (let xx = 0; xx < s.width; xx++)
            if (s.instance[yy * s.width + xx] === k) {
              count++;
              assert.ok(xx >= x && xx < x + w && yy >= y && yy < y + h, 'pixel outside its box');
            }
        assert.equal(count, o.area);
        assert.ok(o.area >= 1);
      });
      // Overlapping objects: the later one hides part of the earlier.
      if (s.objects.some((o, k) => s.objects.slice(k + 1).some((p) => overlaps(o.bbox, p.bbox)))) overlapping++;
    }
    assert.deepEqual([...ids].sort((a, b) => a - b), [3, 7, 11, 20]);
    assert.ok(counts.every((n) => n >= 1 && n <= 5) && Math.min(...counts) <= 2 && Math.max(...counts) === 5, counts.join(','));
    assert.ok(counts.filter((n) => n >= 2).length >= 36, `most images hold 2 or more objects: ${counts.join(',')}`);
    assert.ok(widths.size > 10 && heights.size > 10 && nonSquare >= 36, 'sizes vary');
    assert.ok(overlapping >= 5, `overlapping objects in ${overlapping} of 40`);
  });

  it('writes COCO layout that loads through the COCO loader; the JPEGs hold the scenes', async () => {
    const out = tmpDir('synth-varied');
    const r = await writeSynthDataset(out, { kind: 'varied', train: 6, val: 2, size: 144, seed: 4 });
    const ds = await loadCoco(path.join(out, 'annotations', 'instances_train.json'), { imageDir: path.join(out, 'train') });
    assert.equal(ds.images.length, 6);
    assert.equal(ds.annotations.count, r.annotations.train);
    assert.deepEqual(ds.issues, []);
    assert.deepEqual(ds.categories.map((c) => [c.id, c.name]), [[3, 'star'], [7, 'hexagon'], [11, 'ellipse'], [20, 'arrow']]);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'annotations', 'instances_train.json'), 'utf8'));
    assert.equal(json.info.parameters.kind, 'varied');
    for (let i = 0; i < 6; i++) {
      const scene = renderVariedScene(new Rng(4, 'train', i), { size: 144 });
      assert.deepEqual([json.images[i].width, json.images[i].height], [scene.width, scene.height]);
      const img = await decodeImage(path.join(out, 'train', ds.images[i]!.fileName));
      assert.deepEqual(img.tensor.shape.slice(0, 2), [scene.height, scene.width]);
      let err = 0;
      for (let p = 0; p < scene.rgb.length; p++) err += Math.abs(img.tensor.data[p]! - scene.rgb[p]!);
      // Quality 85 with 4:2:0 chroma on noisy textures: a few levels of error on average.
      assert.ok(err / scene.rgb.length < 12, `mean JPEG error ${err / scene.rgb.length}`);
      const boxes = json.annotations.filter((a: { image_id: number }) => a.image_id === i + 1);
      assert.deepEqual(boxes.map((a: { bbox: number[] }) => a.bbox), scene.objects.map((o) => o.bbox));
      assert.deepEqual(boxes.map((a: { category_id: number }) => a.category_id), scene.objects.map((o) => o.categoryId));
    }
  });

  it('the same seed gives the same bytes, another seed or the first kind other bytes', async () => {
    const a = tmpDir('varied-a'), b = tmpDir('varied-b'), c = tmpDir('varied-c'), shapes = tmpDir('varied-shapes');
    await writeSynthDataset(a, { kind: 'varied', train: 4, val: 2, size: 64, seed: 9, concurrency: 1 });
    await writeSynthDataset(b, { kind: 'varied', train: 4, val: 2, size: 64, seed: 9, concurrency: 3 });
    await writeSynthDataset(c, { kind: 'varied', train: 4, val: 2, size: 64, seed: 10 });
    await writeSynthDataset(shapes, { train: 4, val: 2, size: 64, seed: 9 });
    const fa = filesOf(a);
    assert.deepEqual(fa, filesOf(b));
    for (const f of fa) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), f);
    for (const f of fa) assert.ok(!fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(c, f))), `${f}: seed 10 is another dataset`);
    assert.ok(!fs.readFileSync(path.join(a, 'annotations', 'instances_train.json')).equals(fs.readFileSync(path.join(shapes, 'annotations', 'instances_train.json'))));
  });

  it('has a cache key of its own; the default job keeps the first kind', () => {
    const root = '/cache';
    assert.equal(path.basename(synthCacheDir(DEFAULT_SYNTH, root)), 'shapes-v1-t1000-v200-s128-seed0');
    assert.equal(path.basename(synthCacheDir({ ...DEFAULT_SYNTH, kind: 'varied', size: 144 }, root)), 'varied-v1-t1000-v200-s144-seed0');
    assert.equal(resolveConfig('shapes-tiny').data.synth.kind, undefined);
    assert.equal(resolveConfig('shapes-tiny', { set: ['data.synth.kind=varied'] }).data.synth.kind, 'varied');
    assert.throws(() => resolveConfig('shapes-tiny', { set: ['data.synth.kind=blobs'] }), /config\.data\.synth\.kind: .*got "blobs"/);
  });

  it('rejects an unknown kind', async () => {
    await assert.rejects(writeSynthDataset(tmpDir('bad'), { kind: 'blobs' as 'varied', train: 1, val: 0, size: 64, seed: 0 }), /--kind must be one of shapes, varied, got "blobs"/);
  });
});

function overlaps(a: number[], b: number[]): boolean {
  return a[0]! < b[0]! + b[2]! && b[0]! < a[0]! + a[2]! && a[1]! < b[1]! + b[3]! && b[1]! < a[1]! + a[3]!;
}
