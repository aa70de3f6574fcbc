// loadDetector(): the same numbers as `cornernet test` and `cornernet detect`
// for the same weights and images (with and without the flip test); files,
// encoded buffers and raw pixels giving the same detections; inputs and options
// refused naming the field; detectAll decoding the next image while the model
// runs; concurrent calls; timings, device and corner heat maps.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import sharp from 'sharp';

import { loadCoco } from '../../lib/data/coco_loader';
import { loadTestImageFile } from '../../lib/data/train_loader';
import { REFERENCE_TEST } from '../../lib/data/transforms';
import { predictImage } from '../../lib/eval/predict';
import { ORIGINAL_INPUT } from '../../lib/io/torch_import';
import { loadDetector, type Detection, type DetectorInput, type ImageDetections } from '../../lib/detector';
import { loadSafetensors, saveSafetensors } from '../../lib/io/safetensors';
import { Model } from '../../lib/model';
import { cornernet, makeCliFixture, type CliFixture } from '../cli/cli_fixture';
import { MICRO_CONFIG } from './micro_weights';

interface CocoResult {
  image_id: number;
  category_id: number;
  bbox: number[];
  score: number;
}

interface DetectJson {
  file: string;
  device: string;
  detections: { box: number[]; label: number; category_id: number; name: string; score: number }[];
}

/** The detections without the per-call timing, for comparing two runs. */
const plain = (r: ImageDetections): Detection[] => r.map((d) => ({ ...d }));

describe('loadDetector', function () {
  this.timeout(60_000);
  let f: CliFixture;
  let images: string[];
  before(async () => {
    f = await makeCliFixture('detector', { train: 1, val: 3 });
    images = f.images('val');
  });
  after(() => fs.rmSync(f.dir, { recursive: true, force: true }));

  for (const flip of [false, true]) {
    it(`gives the numbers of cornernet test and cornernet detect${flip ? ' with the flip test' : ''}`, async () => {
      const out = path.join(f.dir, `test-${flip}.json`);
      const t = cornernet(['test', '--weights', f.weights, '--data', f.data, '--device', 'cpu', '--out', out, ...(flip ? ['--flip'] : [])]);
      assert.equal(t.status, 0, t.stderr);
      const fromTest = JSON.parse(fs.readFileSync(out, 'utf8')) as CocoResult[];
      const d = cornernet(['detect', '--weights', f.weights, '--device', 'cpu', '--score-thr', '0', ...(flip ? ['--flip'] : []), ...images]);
      assert.equal(d.status, 0, d.stderr);
      const fromDetect = JSON.parse(d.stdout) as DetectJson[];

      const ds = await loadCoco(path.join(f.data, 'annotations', 'instances_val.json'), { imageDir: path.join(f.data, 'val') });
      await using det = await loadDetector({ weights: f.weights, device: 'cpu', flip, scoreThreshold: 0 });
      let compared = 0;
      for (const [i, file] of images.entries()) {
        const r = await det.detect(file);
        assert.ok(r.length > 0, `no detections for ${file}: nothing compared`);
        const imageId = ds.images.find((im) => path.join(f.data, 'val', im.fileName) === file)!.id;
        const expected = fromTest.filter((x) => x.image_id === imageId);
        assert.deepEqual(
          r.map((x) => ({ image_id: imageId, category_id: x.categoryId, bbox: x.bbox, score: x.score })),
          expected,
          `${file}: the detector and cornernet test differ`,
        );
        assert.deepEqual(
          r.map((x) => ({ box: [x.bbox[0], x.bbox[1], x.bbox[0] + x.bbox[2], x.bbox[1] + x.bbox[3]], label: x.classIndex, category_id: x.categoryId, name: x.label, score: x.score })),
          fromDetect[i]!.detections,
          `${file}: the detector and cornernet detect differ`,
        );
        compared += r.length;
      }
      assert.equal(compared, fromTest.length, 'cornernet test found detections the detector did not');
    });
  }

  it('a file, its bytes, and its pixels (RGB, RGBA, grey, uint8 or float) give the same detections', async () => {
    await using det = await loadDetector({ weights: f.weights, device: 'cpu', scoreThreshold: 0 });
    const file = images[0]!;
    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { width, height } = info;
    const rgb = new Uint8Array(data);
    const rgba = new Uint8Array(width * height * 4);
    for (let p = 0; p < width * height; p++) rgba.set([rgb[3 * p]!, rgb[3 * p + 1]!, rgb[3 * p + 2]!, 255], 4 * p);
    const expected = plain(await det.detect(file));
    assert.ok(expected.length > 0);
    assert.deepEqual(plain(await det.detect(fs.readFileSync(file))), expected, 'Buffer');
    assert.deepEqual(plain(await det.detect(new Uint8Array(fs.readFileSync(file)))), expected, 'Uint8Array');
    assert.deepEqual(plain(await det.detect({ data: rgb, width, height, channels: 3 })), expected, 'RGB uint8');
    assert.deepEqual(plain(await det.detect({ data: Float32Array.from(rgb), width, height, channels: 3 })), expected, 'RGB float');
    assert.deepEqual(plain(await det.detect({ data: rgba, width, height, channels: 4 })), expected, 'RGBA');
    // Grey: one channel read as R = G = B.
    const grey = rgb.filter((_, i) => i % 3 === 0);
    const greyRgb = new Uint8Array(rgb.length).map((_, i) => grey[Math.floor(i / 3)]!);
    assert.deepEqual(
      plain(await det.detect({ data: grey, width, height, channels: 1 })),
      plain(await det.detect({ data: greyRgb, width, height, channels: 3 })),
      'grey',
    );
  });

  it('refuses bad inputs naming the field, and bad options naming the option', async () => {
    await using det = await loadDetector({ weights: f.weights, device: 'cpu' });
    const px = (o: object) => ({ data: new Uint8Array(48), width: 4, height: 4, channels: 3, ...o }) as DetectorInput;
    await assert.rejects(det.detect(px({ data: new Uint8Array(10) })), /^ImageDecodeError: input\.data holds 10 values; 4x4 pixels of 3 channel\(s\) need 48$/);
    await assert.rejects(det.detect(px({ channels: 5 })), /input\.channels must be 1 \(grey\), 2 \(grey \+ alpha\), 3 \(RGB\) or 4 \(RGBA\), got 5/);
    await assert.rejects(det.detect(px({ width: 0 })), /input\.width must be a positive integer, got 0/);
    await assert.rejects(det.detect(px({ height: 2.5 })), /input\.height must be a positive integer, got 2\.5/);
    await assert.rejects(det.detect(px({ data: [1, 2, 3] })), /input\.data must be a Uint8Array or a Float32Array, got Array/);
    await assert.rejects(det.detect(px({ data: new Float32Array(48).fill(NaN) })), /input\.data holds a non-finite value \(NaN\) at pixel 0/);
    await assert.rejects(det.detect(42 as unknown as DetectorInput), /^TypeError: input must be a file path, an encoded image \(Buffer or Uint8Array\) or raw pixels/);
    await assert.rejects(det.detect(Buffer.from('not an image')), /input \(encoded image\): cannot be decoded/);
    await assert.rejects(det.detect(Buffer.alloc(0)), /input \(encoded image\): empty buffer/);
    await assert.rejects(det.detect(path.join(f.dir, 'missing.jpg')), /missing\.jpg: file not found/);
    await assert.rejects(det.detectBatch([images[0]!, Buffer.from('junk')]), /inputs\[1\] \(encoded image\): cannot be decoded/);

    await assert.rejects(loadDetector({} as never), /loadDetector: options\.weights must be the path of a weights file/);
    await assert.rejects(loadDetector({ weights: f.weights, scoreThreshold: 2 }), /options\.scoreThreshold must be a number in \[0, 1\], got 2/);
    await assert.rejects(loadDetector({ weights: f.weights, maxDetections: 0 }), /options\.maxDetections must be a positive integer, got 0/);
    await assert.rejects(loadDetector({ weights: f.weights, flip: 'yes' as never }), /options\.flip must be a boolean/);
    await assert.rejects(loadDetector({ weights: f.weights, config: MICRO_CONFIG }), /^Error: options\.weights .* does not fit options\.config \(the model config object given\) \(nothing was loaded\)/);
    await assert.rejects(loadDetector({ weights: f.weights, device: 'tpu' }), /^Error: options\.device tpu: /);
    await assert.rejects(loadDetector({ weights: path.join(f.dir, 'none.safetensors') }), /none\.safetensors/);
  });

  it('takes the architecture as a config object for weights that record none', async () => {
    const weights = path.join(f.dir, 'plain-micro.safetensors');
    const m = new Model(MICRO_CONFIG, { seed: 4 });
    saveSafetensors(weights, Object.entries(m.stateDict()));
    m.dispose();
    await assert.rejects(loadDetector({ weights }), /^Error: options\.weights .*: this file does not record its architecture; pass options\.config/);
    await using det = await loadDetector({ weights, config: MICRO_CONFIG, scoreThreshold: 0 });
    assert.equal(det.classNames.join(','), 'class_0,class_1');
    assert.ok((await det.detect(images[0]!)).every((d) => d.classIndex < 2 && d.categoryId === d.classIndex && d.label === `class_${d.classIndex}`));
  });

  it('runs the test transform the weights ask for (the original CornerNet\'s normalisation)', async () => {
    const file = loadSafetensors(f.weights);
    const weights = path.join(f.dir, 'original-input.safetensors');
    saveSafetensors(weights, file.tensors, { ...file.metadata, input: JSON.stringify(ORIGINAL_INPUT) });
    await using original = await loadDetector({ weights, device: 'cpu', scoreThreshold: 0 });
    await using reference = await loadDetector({ weights: f.weights, device: 'cpu', scoreThreshold: 0 });
    const model = original.model;
    const transform = { ...REFERENCE_TEST, mean: ORIGINAL_INPUT.mean, std: ORIGINAL_INPUT.std };
    const d = await predictImage(model, await loadTestImageFile(images[0]!, { transform }), null);
    const got = plain(await original.detect(images[0]!));
    assert.deepEqual(got.map((x) => x.score), Array.from(d.scores));
    assert.notDeepEqual(got, plain(await reference.detect(images[0]!)), 'the normalisation made no difference');
  });

  it('keeps the best maxDetections, all above scoreThreshold', async () => {
    await using all = await loadDetector({ weights: f.weights, device: 'cpu', scoreThreshold: 0 });
    await using five = await loadDetector({ weights: f.weights, device: 'cpu', scoreThreshold: 0, maxDetections: 5 });
    const every = plain(await all.detect(images[1]!));
    assert.ok(every.length > 5);
    assert.deepEqual(plain(await five.detect(images[1]!)), every.slice(0, 5));
    const threshold = every[3]!.score;
    await using high = await loadDetector({ weights: f.weights, device: 'cpu', scoreThreshold: threshold });
    assert.deepEqual(plain(await high.detect(images[1]!)), every.filter((d) => d.score >= threshold));
  });

  it('detectAll reads the next input before the model is done with this one, and keeps the order', async () => {
    await using det = await loadDetector({ weights: f.weights, device: 'cpu', scoreThreshold: 0 });
    const events: string[] = [];
    async function* inputs() {
      for (const [i, file] of images.entries()) {
        events.push(`read ${i}`);
        yield file;
      }
    }
    const results: Detection[][] = [];
    for await (const r of det.detectAll(inputs())) {
      events.push(`result ${results.length}`);
      results.push(plain(r));
    }
    // Image i + 1 is taken (and decoded) while the model runs on image i.
    assert.deepEqual(events, ['read 0', 'read 1', 'result 0', 'read 2', 'result 1', 'result 2']);
    const one = [];
    for (const file of images) one.push(plain(await det.detect(file)));
    assert.deepEqual(results, one);
    assert.deepEqual((await det.detectBatch(images)).map(plain), one);
    // Calls made at once run one after the other on the model (the engine takes one at a time).
    assert.deepEqual((await Promise.all(images.map((file) => det.detect(file)))).map(plain), one);
  });

  it('records the device, the image size and the milliseconds of each image', async () => {
    await using det = await loadDetector({ weights: f.weights, device: 'cpu' });
    assert.equal(det.device, 'cpu');
    const r = await det.detect(images[0]!);
    assert.equal(r.device, 'cpu');
    assert.deepEqual(r.size, [64, 64]);
    assert.ok(r.timeMs.load > 0 && r.timeMs.model > 0, JSON.stringify(r.timeMs));
    // Plain weights name no classes, and 5 are not COCO's 80.
    assert.deepEqual(det.classNames, ['class_0', 'class_1', 'class_2', 'class_3', 'class_4']);
  });

  it('cornerHeatmaps: the highest class probability per output pixel, and where the image sits', async () => {
    await using det = await loadDetector({ weights: f.weights, device: 'cpu' });
    const h = await det.cornerHeatmaps(images[0]!);
    assert.deepEqual(h.tl.shape, [32, 32]);
    assert.deepEqual(h.br.shape, [32, 32]);
    assert.deepEqual(h.meta.padShape, [127, 127]);
    assert.deepEqual(h.meta.imgShape, [64, 64]);
    // The sigmoid of the largest logit over the classes, from the last stack of the model's own forward.
    const levels = await det.model.forward((await loadTestImageFile(images[0]!)).image);
    const last = levels[levels.length - 1]!;
    for (const [name, heat, map] of [['tl', last.tlHeat, h.tl], ['br', last.brHeat, h.br]] as const) {
      assert.deepEqual(heat.shape, [1, 5, 32, 32]);
      const plane = 32 * 32;
      for (let i = 0; i < plane; i++) {
        let best = -Infinity;
        for (let k = 0; k < 5; k++) best = Math.max(best, heat.data[k * plane + i]!);
        const expected = 1 / (1 + Math.exp(-best));
        assert.ok(Math.abs(map.data[i]! - expected) < 1e-6, `${name}[${i}] ${map.data[i]} vs ${expected}`);
      }
    }
    assert.ok(h.tl.data.some((v, i) => v !== h.br.data[i]), 'tl and br maps are the same');
  });
});
