import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { CocoFormatError } from '../../lib/data/coco_errors';
import { discoverSplits, resolveDataset } from '../../lib/data/coco_layout';
import { annotationsOf, loadCoco, summarize, trainImageIndices, trainTargets } from '../../lib/data/coco_loader';
import { AnnFlag } from '../../lib/data/coco_types';
import { baseCocoJson, makeCocoFixture, tmpDir, type CocoJson } from './coco_fixture';

async function loadVariant(mutate: (j: CocoJson) => void, opts: { strict?: boolean } = {}) {
  const f = await makeCocoFixture(mutate);
  return loadCoco(f.annFile, { imageDir: f.imageDir, ...opts });
}

async function expectError(mutate: (j: CocoJson) => void, where: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadVariant(mutate), (e: unknown) => {
    assert.ok(e instanceof CocoFormatError, `expected a CocoFormatError, got ${String(e)}`);
    assert.equal(e.where, where);
    assert.match(e.message, /^instances_train2017\.json: /);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('data/coco_loader', () => {
  it('loads a COCO file with polygons, RLE, crowd boxes, info and licenses', async () => {
    const f = await makeCocoFixture();
    const ds = await loadCoco(f.annFile, { imageDir: f.imageDir });
    assert.equal(ds.images.length, 4);
    assert.equal(ds.annotations.count, 5);
    assert.deepEqual(ds.segmentation, { polygon: 4, rle: 1, none: 0 });
    assert.equal(ds.licenses, 1);
    assert.equal((ds.info as { year: number }).year, 2017);
    assert.deepEqual(ds.issues, []);
    // Non-contiguous ids map to 0..C-1 in id order and back.
    assert.deepEqual(ds.labelToCategoryId, [1, 18, 90]);
    assert.equal(ds.categoryIdToLabel.get(90), 2);
    // The crowd id above 2^31 survives.
    assert.equal(ds.annotations.id[2], 900100000103);
    assert.equal(ds.annotations.flags[2], AnnFlag.Crowd);
    assert.deepEqual([...annotationsOf(ds, 1)], [2, 3]);
  });

  it('keeps crowd boxes out of training targets and converts to x1,y1,x2,y2', async () => {
    const f = await makeCocoFixture();
    const ds = await loadCoco(f.annFile, { imageDir: f.imageDir });
    const t1 = trainTargets(ds, 0);
    assert.deepEqual([...t1.boxes], [10, 10, 30, 25, 40.5, 5, 60, 40]);
    assert.deepEqual([...t1.labels], [1, 0]);
    const t2 = trainTargets(ds, 1);
    assert.deepEqual([...t2.labels], [2], 'the crowd box of image 2 is not a target');
    assert.deepEqual([...t2.boxes], [5, 20, 35, 35]);
  });

  it('filters images for training as mmdet does (no annotations, shorter side < 32)', async () => {
    const f = await makeCocoFixture();
    const ds = await loadCoco(f.annFile, { imageDir: f.imageDir });
    assert.deepEqual(trainImageIndices(ds), [0, 1]);
    assert.deepEqual(trainImageIndices(ds, { minSize: 16 }), [0, 1, 3]);
    const s = summarize(ds);
    assert.equal(s.crowd, 1);
    assert.equal(s.trainImages, 2);
  });

  it('accepts keys in any order and annotations before images', async () => {
    const ds = await loadVariant((j) => {
      const { images, annotations, categories } = j;
      for (const k of Object.keys(j)) delete j[k];
      Object.assign(j, { annotations, categories, images });
    });
    assert.equal(ds.annotations.count, 5);
    assert.equal(ds.annotations.imageIndex[0], 0);
  });

  describe('malformed files', () => {
    it('missing bbox', () => expectError((j) => delete j.annotations[1]!.bbox, 'annotations[1].bbox', /missing field 'bbox'/));
    it('bbox not 4 numbers', () => expectError((j) => (j.annotations[0]!.bbox = [1, 2, 3]), 'annotations[0].bbox', /must be an array of 4 numbers/));
    it('bbox with a string', () => expectError((j) => (j.annotations[0]!.bbox = [1, 2, '3', 4]), 'annotations[0].bbox', /array of 4 numbers/));
    it('missing image_id', () => expectError((j) => delete j.annotations[3]!.image_id, 'annotations[3].image_id', /missing field 'image_id'/));
    it('missing file_name', () => expectError((j) => delete j.images[2]!.file_name, 'images[2].file_name', /missing field 'file_name'/));
    it('non-positive width', () => expectError((j) => (j.images[1]!.width = 0), 'images[1].width', /must be positive, got 0/));
    it('duplicate image ids', () => expectError((j) => (j.images[3]!.id = 1), 'images[3].id', /duplicate image id 1 \(also images\[0\]\)/));
    it('duplicate category ids', () => expectError((j) => (j.categories[2]!.id = 18), 'categories[2].id', /duplicate category id 18/));
    it('duplicate annotation ids', () => expectError((j) => (j.annotations[4]!.id = 101), 'annotations[4].id', /duplicate annotation id 101 \(also annotations\[0\]\)/));
    it('unknown category id', () => expectError((j) => (j.annotations[2]!.category_id = 7), 'annotations[2].category_id', /unknown category id 7/));
    it('unknown image id', () => expectError((j) => (j.annotations[0]!.image_id = 99), 'annotations[0].image_id', /no image with id 99/));
    it('iscrowd not 0/1', () => expectError((j) => (j.annotations[0]!.iscrowd = 2), 'annotations[0].iscrowd', /must be 0 or 1/));
    it('negative area', () => expectError((j) => (j.annotations[0]!.area = -1), 'annotations[0].area', /must not be negative/));
    it('images not an array', () => expectError((j) => (j.images = {} as never), 'images', /must be an array/));
    it('an element not an object', () => expectError((j) => (j.annotations[1] = 5 as never), 'annotations[1]', /must be an object/));
    it('missing categories section', () => expectError((j) => delete (j as Partial<CocoJson>).categories, '', /missing top-level field 'categories'/));

    it('a truncated file', async () => {
      const f = await makeCocoFixture();
      const text = fs.readFileSync(f.annFile, 'utf8');
      fs.writeFileSync(f.annFile, text.slice(0, Math.floor(text.length / 2)));
      await assert.rejects(loadCoco(f.annFile, { imageDir: f.imageDir }), /instances_train2017\.json: the file ends before the JSON is complete/);
    });
    it('invalid JSON', async () => {
      const f = await makeCocoFixture();
      fs.writeFileSync(f.annFile, '{"images": [ {"id": 1,, } ] }');
      await assert.rejects(loadCoco(f.annFile, { imageDir: f.imageDir }), /instances_train2017\.json: not valid JSON within characters 0\.\.\d+: Parser cannot parse input/);
    });
    it('top level not an object', async () => {
      const f = await makeCocoFixture();
      fs.writeFileSync(f.annFile, '[1, 2]');
      await assert.rejects(loadCoco(f.annFile, { imageDir: f.imageDir }), /the top level must be a JSON object/);
    });
    it('a missing file', async () => {
      await assert.rejects(loadCoco('/nonexistent/instances_x.json', { imageDir: '/nonexistent' }), /instances_x\.json: file not found/);
    });
  });

  describe('box problems are reported and kept out of training', () => {
    it('non-positive size', async () => {
      const ds = await loadVariant((j) => (j.annotations[0]!.bbox = [10, 10, 20, 0]));
      assert.equal(ds.issues.length, 1);
      assert.equal(ds.issues[0]!.where, 'annotations[0].bbox');
      assert.match(ds.issues[0]!.message, /box \[10, 10, 20, 0\] has non-positive size \(width 20, height 0\); not used for training/);
      assert.ok(ds.annotations.flags[0]! & AnnFlag.Invalid);
      assert.deepEqual([...trainTargets(ds, 0).labels], [0]);
    });
    it('outside the image', async () => {
      const ds = await loadVariant((j) => (j.annotations[1]!.bbox = [70, 5, 10, 10]));
      assert.match(ds.issues[0]!.message, /box \[70, 5, 10, 10\] lies outside image 1 \(64x48\)/);
      assert.equal(trainTargets(ds, 0).labels.length, 1);
    });
    it('spilling over the edge is reported but kept', async () => {
      const ds = await loadVariant((j) => (j.annotations[1]!.bbox = [40, 5, 30, 35]));
      assert.match(ds.issues[0]!.message, /extends outside image 1 \(64x48\) by more than 1 px; kept/);
      assert.equal(trainTargets(ds, 0).labels.length, 2);
    });
    it('strict mode makes them errors', async () => {
      await assert.rejects(loadVariant((j) => (j.annotations[0]!.bbox = [10, 10, -1, 5]), { strict: true }), /annotations\[0\]\.bbox: box \[10, 10, -1, 5\] has non-positive size/);
    });
    it('boxes under 1 px are dropped from training silently, as mmdet does, and counted', async () => {
      const ds = await loadVariant((j) => (j.annotations[0]!.bbox = [10, 10, 0.5, 5]));
      assert.equal(ds.issues.length, 0);
      assert.equal(summarize(ds).tiny, 1);
      assert.equal(trainTargets(ds, 0).labels.length, 1);
    });
  });

  describe('layout', () => {
    it('discovers train* and val* splits', async () => {
      const f = await makeCocoFixture();
      fs.mkdirSync(path.join(f.root, 'val2017'));
      fs.writeFileSync(path.join(f.root, 'annotations', 'instances_val2017.json'), JSON.stringify(baseCocoJson()));
      fs.writeFileSync(path.join(f.root, 'annotations', 'captions_train2017.json'), '{}');
      const s = discoverSplits(f.root);
      assert.equal(s.train!.split, 'train2017');
      assert.equal(s.train!.imageDir, path.join(f.root, 'train2017'));
      assert.equal(s.val!.annotationFile, path.join(f.root, 'annotations', 'instances_val2017.json'));
      assert.equal(s.all.length, 2);
      const o = resolveDataset({ data: f.root, valAnnotations: f.annFile, valImages: f.imageDir });
      assert.equal(o.val!.annotationFile, f.annFile);
      assert.equal(o.train!.split, 'train2017');
    });
    it('explains a folder that is not a dataset', () => {
      const d = tmpDir('empty');
      assert.throws(() => discoverSplits(d), /no annotations\/ folder/);
      fs.mkdirSync(path.join(d, 'annotations'));
      fs.writeFileSync(path.join(d, 'annotations', 'instances_train.json'), '{}');
      assert.throws(() => discoverSplits(d), /annotations\/instances_train\.json has no image folder train\//);
    });
  });
});
