// Writes the synthetic-shapes dataset in real COCO layout:
//   OUT/annotations/instances_train.json, OUT/train/*.jpg
//   OUT/annotations/instances_val.json,   OUT/val/*.jpg
// Every image comes from its own RNG stream (seed, split, index), JPEG encoding
// is sharp's with fixed settings and the JSON has no timestamps, so the same
// parameters give the same bytes.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';

import { Rng } from '../rng';
import { renderScene, type SceneOptions } from './scene';
import { SHAPE_CLASSES } from './shapes';

/** Bump when the generator's output changes: it keys the cache (synth_cache.ts). */
export const SYNTH_GENERATOR_VERSION = 1;

export interface SynthOptions {
  train: number;
  val: number;
  size: number;
  seed: number;
  maxObjects?: number;
  /** Images encoded at once. */
  concurrency?: number;
  jpegQuality?: number;
}

export interface SynthResult {
  out: string;
  images: { train: number; val: number };
  annotations: { train: number; val: number };
}

const round2 = (v: number) => Math.round(v * 100) / 100;

async function writeSplit(out: string, split: 'train' | 'val', count: number, o: SynthOptions): Promise<number> {
  const dir = path.join(out, split);
  fs.mkdirSync(dir, { recursive: true });
  const sceneOpts: SceneOptions = { size: o.size };
  if (o.maxObjects !== undefined) sceneOpts.maxObjects = o.maxObjects;
  const images: object[] = [];
  const annotations: object[] = [];
  const conc = Math.max(1, o.concurrency ?? 4);
  let annId = 1;
  for (let start = 0; start < count; start += conc) {
    const batch = Array.from({ length: Math.min(conc, count - start) }, (_, k) => start + k);
    const scenes = batch.map((i) => renderScene(new Rng(o.seed, split, i), sceneOpts));
    await Promise.all(
      scenes.map(async (s, k) => {
        const fileName = `${String(batch[k]! + 1).padStart(12, '0')}.jpg`;
        const jpg = await sharp(Buffer.from(s.rgb.buffer, s.rgb.byteOffset, s.rgb.byteLength), { raw: { width: s.width, height: s.height, channels: 3 } })
          .jpeg({ quality: o.jpegQuality ?? 92, chromaSubsampling: '4:4:4' })
          .toBuffer();
        fs.writeFileSync(path.join(dir, fileName), jpg);
      })
    );
    scenes.forEach((s, k) => {
      const imageId = batch[k]! + 1;
      images.push({ id: imageId, file_name: `${String(imageId).padStart(12, '0')}.jpg`, width: s.width, height: s.height, license: 1, date_captured: '' });
      for (const ob of s.objects)
        annotations.push({
          id: annId++,
          image_id: imageId,
          category_id: ob.categoryId,
          bbox: ob.bbox,
          area: ob.area,
          iscrowd: 0,
          segmentation: [ob.polygon.flatMap(([x, y]) => [round2(x), round2(y)])],
        });
    });
  }
  const doc = {
    info: {
      description: 'cornernet-native synthetic shapes',
      version: `${SYNTH_GENERATOR_VERSION}`,
      year: 2026,
      contributor: 'cornernet synth',
      date_created: '',
      parameters: { split, count, size: o.size, seed: o.seed, maxObjects: o.maxObjects ?? 4 },
    },
    licenses: [{ id: 1, name: 'CC0 1.0 (generated data)', url: 'https://creativecommons.org/publicdomain/zero/1.0/' }],
    images,
    annotations,
    categories: SHAPE_CLASSES.map((c) => ({ id: c.id, name: c.name, supercategory: 'shape' })),
  };
  fs.mkdirSync(path.join(out, 'annotations'), { recursive: true });
  fs.writeFileSync(path.join(out, 'annotations', `instances_${split}.json`), JSON.stringify(doc));
  return annotations.length;
}

/** Image side bounds of the generator (the CLI's flag check uses them too). */
export const SYNTH_LIMITS = { minSize: 32, maxSize: 4096 } as const;

export async function writeSynthDataset(out: string, o: SynthOptions): Promise<SynthResult> {
  const counts = [['train', o.train, 0], ['val', o.val, 0], ['size', o.size, SYNTH_LIMITS.minSize], ['seed', o.seed, 0], ['max-objects', o.maxObjects ?? 1, 1]] as const;
  for (const [k, v, min] of counts)
    if (!Number.isInteger(v) || v < min) throw new RangeError(`synth: --${k} must be an integer >= ${min}, got ${v}`);
  if (o.size > SYNTH_LIMITS.maxSize) throw new RangeError(`synth: --size must be at most ${SYNTH_LIMITS.maxSize}, got ${o.size}`);
  if (o.train + o.val === 0) throw new RangeError('synth: nothing to write (--train and --val are both 0)');
  fs.mkdirSync(out, { recursive: true });
  const res: SynthResult = { out: path.resolve(out), images: { train: o.train, val: o.val }, annotations: { train: 0, val: 0 } };
  if (o.train > 0) res.annotations.train = await writeSplit(out, 'train', o.train, o);
  if (o.val > 0) res.annotations.val = await writeSplit(out, 'val', o.val, o);
  return res;
}
