import { strict as assert } from 'assert';
import * as path from 'path';

import { CocoFormatError } from '../../lib/data/coco_errors';
import { loadCoco } from '../../lib/data/coco_loader';
import { ThreadedTrainLoader } from '../../lib/data/threaded_loader';
import { TrainLoader, type TrainBatch } from '../../lib/data/train_loader';
import { REFERENCE_TRAIN, type TrainTransformConfig } from '../../lib/data/transforms';
import { writeSynthDataset } from '../../lib/data/synth/write_dataset';
import { makeCocoFixture, tmpDir } from './coco_fixture';

const small: TrainTransformConfig = { ...REFERENCE_TRAIN, cropSize: [48, 48], outSize: [48, 48] };

describe('data/threaded_loader', () => {
  let root: string;
  const paths = () => ({ annotationFile: path.join(root, 'annotations', 'instances_train.json'), imageDir: path.join(root, 'train') });
  before(async () => {
    root = tmpDir('threaded');
    await writeSynthDataset(root, { train: 9, val: 0, size: 48, seed: 3 });
  });

  it('gives the same batches as the main-thread loader, while the main thread is blocked', async () => {
    const opts = { batchSize: 3, seed: 4, workers: 3, transform: small };
    const ds = await loadCoco(paths().annotationFile, { imageDir: paths().imageDir });
    const expected: TrainBatch[] = [];
    for await (const b of new TrainLoader(ds, opts).epoch(2)) expected.push(b);
    const l = await ThreadedTrainLoader.open({ ...opts, ...paths(), prefetch: 2 });
    try {
      assert.equal(l.info.trainImages, 9);
      assert.equal(l.info.batchesPerEpoch, 3);
      assert.deepEqual(l.info.labelToCategoryId, [1, 2, 3, 4, 5]);
      const got: TrainBatch[] = [];
      for await (const b of l.epoch(2)) {
        got.push(b);
        const end = Date.now() + 30;
        while (Date.now() < end) {
          /* a synchronous step */
        }
      }
      assert.equal(got.length, 3);
      got.forEach((b, i) => {
        assert.deepEqual(b.imageIds, expected[i]!.imageIds);
        assert.deepEqual(b.images.shape, [3, 3, 48, 48]);
        assert.deepEqual([...b.images.data], [...expected[i]!.images.data]);
        assert.deepEqual(b.boxes.map((x) => [...x]), expected[i]!.boxes.map((x) => [...x]));
      });
      // Stopping early leaves the loader usable for the next epoch.
      for await (const b of l.epoch(3)) {
        assert.equal(b.imageIds.length, 3);
        break;
      }
      let n = 0;
      for await (const b of l.epoch(4)) n += b.imageIds.length;
      assert.equal(n, 9);
    } finally {
      await l.close();
    }
  });

  it('passes a malformed annotation file\'s error through', async () => {
    const f = await makeCocoFixture((j) => (j.annotations[0]!.category_id = 77));
    await assert.rejects(ThreadedTrainLoader.open({ annotationFile: f.annFile, imageDir: f.imageDir, batchSize: 1, seed: 0 }), (e: unknown) => {
      assert.ok(e instanceof CocoFormatError);
      assert.equal(e.where, 'annotations[0].category_id');
      assert.match(e.message, /unknown category id 77/);
      return true;
    });
  });
});
