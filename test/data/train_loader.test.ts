import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { loadCoco } from '../../lib/data/coco_loader';
import type { DataIssue } from '../../lib/data/coco_types';
import { loadTestImage, TrainLoader, type TrainBatch } from '../../lib/data/train_loader';
import { REFERENCE_TRAIN, type TrainTransformConfig } from '../../lib/data/transforms';
import { writeSynthDataset } from '../../lib/data/synth/write_dataset';
import { makeCocoFixture, makeFifo, tmpDir } from './coco_fixture';

const small: TrainTransformConfig = { ...REFERENCE_TRAIN, cropSize: [64, 64], outSize: [64, 64] };

async function collect(l: TrainLoader, epoch: number): Promise<TrainBatch[]> {
  const out: TrainBatch[] = [];
  for await (const b of l.epoch(epoch)) out.push(b);
  return out;
}

describe('data/train_loader', () => {
  let root: string;
  before(async () => {
    root = tmpDir('loader');
    await writeSynthDataset(root, { train: 10, val: 2, size: 64, seed: 2 });
  });
  const load = () => loadCoco(path.join(root, 'annotations', 'instances_train.json'), { imageDir: path.join(root, 'train') });

  it('yields N x 3 x H x W batches with boxes inside the input', async () => {
    const ds = await load();
    const l = new TrainLoader(ds, { batchSize: 4, seed: 1, transform: small });
    const batches = await collect(l, 0);
    assert.equal(batches.length, 2, '10 images, batch 4, last incomplete batch dropped');
    assert.equal(l.batchesPerEpoch, 2);
    for (const b of batches) {
      assert.deepEqual(b.images.shape, [4, 3, 64, 64]);
      assert.equal(b.images.data.length, 4 * 3 * 64 * 64);
      assert.equal(b.boxes.length, 4);
      b.boxes.forEach((bx, i) => {
        assert.equal(bx.length, 4 * b.labels[i]!.length);
        for (const v of bx) assert.ok(v >= 0 && v <= 64);
      });
      for (const v of b.images.data) assert.ok(Number.isFinite(v));
    }
    const ids = batches.flatMap((b) => b.imageIds);
    assert.equal(new Set(ids).size, 8);
  });

  it('with a decoded-image cache: the same batches bit for bit, images decoded once, the budget respected', async () => {
    const ds = await load();
    const plain = new TrainLoader(ds, { batchSize: 5, seed: 7, transform: small });
    const cached = new TrainLoader(ds, { batchSize: 5, seed: 7, transform: small, decodedCacheBytes: 1 << 20 });
    for (const epoch of [0, 1]) {
      const a = await collect(plain, epoch);
      const b = await collect(cached, epoch);
      assert.deepEqual(a.map((x) => x.imageIds), b.map((x) => x.imageIds));
      a.forEach((x, i) => {
        assert.ok(Buffer.from(x.images.data.buffer).equals(Buffer.from(b[i]!.images.data.buffer)), `epoch ${epoch} batch ${i}: pixels differ`);
        assert.deepEqual(x.boxes, b[i]!.boxes);
      });
    }
    // 10 images of 64 x 64 (8-bit JPEGs: kept as bytes), each decoded once over two epochs.
    assert.deepEqual(cached.decodedCache!.stats(), { entries: 10, bytes: 10 * 64 * 64 * 3, hits: 10, misses: 10 });
    assert.equal(plain.decodedCache, null);
    // A budget of 3 images' bytes keeps the first 3 and decodes the rest every epoch.
    const tight = new TrainLoader(ds, { batchSize: 5, seed: 7, transform: small, decodedCacheBytes: 3 * 64 * 64 * 3 });
    await collect(tight, 0);
    await collect(tight, 1);
    assert.deepEqual(tight.decodedCache!.stats(), { entries: 3, bytes: 3 * 64 * 64 * 3, hits: 3, misses: 17 });
  });

  it('warms the decoded-image cache before the first epoch: the same batches, every image of epoch 0 a hit, no more than fit', async () => {
    const ds = await load();
    const plain = await collect(new TrainLoader(ds, { batchSize: 5, seed: 7, transform: small }), 0);
    const warm = new TrainLoader(ds, { batchSize: 5, seed: 7, workers: 3, transform: small, decodedCacheBytes: 1 << 20 });
    assert.deepEqual(await warm.warmDecodedCache(), { entries: 10, bytes: 10 * 64 * 64 * 3, hits: 0, misses: 10 });
    const b = await collect(warm, 0);
    plain.forEach((x, i) => assert.ok(Buffer.from(x.images.data.buffer).equals(Buffer.from(b[i]!.images.data.buffer)), `batch ${i}: pixels differ`));
    assert.deepEqual(warm.decodedCache!.stats(), { entries: 10, bytes: 10 * 64 * 64 * 3, hits: 10, misses: 10 });
    // 3 images' bytes: 3 kept, and decoding stops at the first image that is not (with 1 worker: the 4th).
    const tight = new TrainLoader(ds, { batchSize: 5, seed: 7, workers: 1, transform: small, decodedCacheBytes: 3 * 64 * 64 * 3 });
    assert.deepEqual(await tight.warmDecodedCache(), { entries: 3, bytes: 3 * 64 * 64 * 3, hits: 0, misses: 4 });
    assert.equal(await new TrainLoader(ds, { batchSize: 5, seed: 7, transform: small }).warmDecodedCache(), null);
  });

  it('is reproducible: same seed, same batches, whatever the number of workers', async () => {
    const ds = await load();
    const a = await collect(new TrainLoader(ds, { batchSize: 5, seed: 7, workers: 1, transform: small }), 3);
    const b = await collect(new TrainLoader(ds, { batchSize: 5, seed: 7, workers: 6, transform: small }), 3);
    const c = await collect(new TrainLoader(ds, { batchSize: 5, seed: 8, workers: 2, transform: small }), 3);
    assert.deepEqual(a.map((x) => x.imageIds), b.map((x) => x.imageIds));
    a.forEach((x, i) => {
      assert.ok(Buffer.from(x.images.data.buffer).equals(Buffer.from(b[i]!.images.data.buffer)));
      assert.deepEqual(x.boxes, b[i]!.boxes);
    });
    assert.notDeepEqual(a.map((x) => x.imageIds), c.map((x) => x.imageIds));
    // Another epoch is shuffled differently.
    const e4 = await collect(new TrainLoader(ds, { batchSize: 5, seed: 7, transform: small }), 4);
    assert.notDeepEqual(a.map((x) => x.imageIds), e4.map((x) => x.imageIds));
  });

  it('reports and skips missing, undecodable and non-regular images, with a count, without ending the epoch', async function () {
    // A FIFO that were opened would block its read forever: the timeout says it hung.
    this.timeout(20_000);
    const f = await makeCocoFixture((j) => {
      j.images.push({ id: 5, file_name: 'missing.jpg', width: 64, height: 48 });
      j.images.push({ id: 6, file_name: 'broken.jpg', width: 64, height: 48 });
      j.images.push({ id: 7, file_name: 'wrongsize.jpg', width: 60, height: 48 });
      j.images.push({ id: 8, file_name: 'pipe.jpg', width: 64, height: 48 });
      for (const id of [5, 6, 7, 8]) j.annotations.push({ id: 200 + id, image_id: id, category_id: 1, bbox: [1, 1, 20, 20], area: 400, iscrowd: 0, segmentation: [] });
    });
    fs.writeFileSync(path.join(f.imageDir, 'broken.jpg'), Buffer.from('this is not a jpeg'));
    fs.copyFileSync(path.join(f.imageDir, '000000000001.jpg'), path.join(f.imageDir, 'wrongsize.jpg'));
    makeFifo(path.join(f.imageDir, 'pipe.jpg'));
    const ds = await loadCoco(f.annFile, { imageDir: f.imageDir });
    const seen: DataIssue[] = [];
    const l = new TrainLoader(ds, { batchSize: 1, seed: 0, transform: small, onBadImage: (i) => seen.push(i) });
    const batches = await collect(l, 0);
    assert.equal(batches.length, 2, 'the two good training images still come through');
    assert.equal(l.badImages.length, 4);
    assert.equal(seen.length, 4);
    const msg = (id: number) => l.badImages.find((i) => i.where.endsWith(`(id ${id})`))!.message;
    assert.match(msg(5), /missing\.jpg: file not found/);
    assert.match(msg(6), /broken\.jpg: cannot be decoded/);
    assert.match(msg(7), /wrongsize\.jpg: decoded size 64x48 differs from the annotation's 60x48/);
    assert.match(msg(8), /pipe\.jpg: not a regular file \(a FIFO \(named pipe\)\), refused/);
  });

  it('an epoch started at a batch\'s `consumed` continues with the same batches, skips included', async () => {
    // A copy of the 10-image set in which two images of epoch 1's order, at 1 and 5, do not decode.
    const dir = tmpDir('loader-skip');
    fs.cpSync(root, dir, { recursive: true });
    const ds = await loadCoco(path.join(dir, 'annotations', 'instances_train.json'), { imageDir: path.join(dir, 'train') });
    const l = new TrainLoader(ds, { batchSize: 2, seed: 3, transform: small });
    for (const p of [1, 5]) fs.writeFileSync(path.join(dir, 'train', ds.images[l.order(1)[p]!]!.fileName), 'not an image');
    const all = await collect(l, 1);
    assert.deepEqual(all.map((b) => b.consumed), [3, 5, 8, 10]);
    for (let k = 0; k < all.length; k++) {
      const rest: TrainBatch[] = [];
      for await (const b of l.epoch(1, all[k]!.consumed)) rest.push(b);
      assert.deepEqual(rest.map((b) => b.imageIds), all.slice(k + 1).map((b) => b.imageIds), `from batch ${k}`);
      rest.forEach((b, i) => assert.ok(Buffer.from(b.images.data.buffer).equals(Buffer.from(all[k + 1 + i]!.images.data.buffer))));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prepares test images with the padded shape and meta', async () => {
    const ds = await load();
    const t = await loadTestImage(ds, 0);
    assert.deepEqual(t.image.shape, [1, 3, 127, 127]);
    assert.deepEqual(t.meta.border, [31, 95, 31, 95]);
    const f = await loadTestImage(ds, 0, { flip: true });
    const W = 127;
    assert.equal(f.image.data[5 * W + 10], t.image.data[5 * W + (W - 1 - 10)]);
  });
});
