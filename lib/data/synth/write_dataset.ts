// Writes a synthetic dataset in real COCO layout, of one of two kinds:
// 'shapes' (scene.ts: square images, the default job's data) or 'varied'
// (varied.ts: images of varied size, other shapes and ids, more occlusion):
//   OUT/annotations/instances_train.json, OUT/train/*.jpg
//   OUT/annotations/instances_val.json,   OUT/val/*.jpg
// Every image comes from its own RNG stream (seed, split, index), JPEG encoding
// is sharp's with fixed settings and the JSON has no timestamps, so the same
// parameters give the same bytes.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';

import { Rng } from '../rng';
import { renderScene, type Scene, type SceneOptions } from './scene';
import { SHAPE_CLASSES, type ShapeClass } from './shapes';
import { renderVariedScene, VARIED_CLASSES } from './varied';

/** Bump when a generator's output changes: it keys the cache (synth_cache.ts). */
export const SYNTH_GENERATOR_VERSION = 1;
export const VARIED_GENERATOR_VERSION = 1;

export const SYNTH_KINDS = ['shapes', 'varied'] as const;
export type SynthKind = (typeof SYNTH_KINDS)[number];

interface Generator {
  version: number;
  description: string;
  classes: readonly ShapeClass[];
  render(rng: Rng, o: SynthOptions): Scene;
  jpeg: { quality: number; chromaSubsampling: string };
}

const GENERATORS: Record<SynthKind, Generator> = {
  shapes: {
    version: SYNTH_GENERATOR_VERSION,
    description: 'cornernet-native synthetic shapes',
    classes: SHAPE_CLASSES,
    render: (rng, o) => {
      const sceneOpts: SceneOptions = { size: o.size };
      if (o.maxObjects !== undefined) sceneOpts.maxObjects = o.maxObjects;
      return renderScene(rng, sceneOpts);
    },
    jpeg: { quality: 92, chromaSubsampling: '4:4:4' },
  },
  varied: {
    version: VARIED_GENERATOR_VERSION,
    description: 'cornernet-native synthetic varied shapes',
    classes: VARIED_CLASSES,
    render: (rng, o) => renderVariedScene(rng, o.maxObjects !== undefined ? { size: o.size, maxObjects: o.maxObjects, minObjects: Math.min(2, o.maxObjects) } : { size: o.size }),
    jpeg: { quality: 85, chromaSubsampling: '4:2:0' },
  },
};

export interface SynthOptions {
  /** Which generator (default 'shapes'). */
  kind?: SynthKind;
  train: number;
  val: number;
  /** 'shapes': the image side; 'varied': the mean side (each side drawn from 7/9 to 11/9 of it). */
  size: number;
  seed: number;
  /** Objects per image at most ('shapes': 1 to it, default 4; 'varied': 2 to it, default 5). */
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
  const gen = GENERATORS[o.kind ?? 'shapes'];
  const images: object[] = [];
  const annotations: object[] = [];
  const conc = Math.max(1, o.concurrency ?? 4);
  let annId = 1;
  for (let start = 0; start < count; start += conc) {
    const batch = Array.from({ length: Math.min(conc, count - start) }, (_, k) => start + k);
    const scenes = batch.map((i) => gen.render(new Rng(o.seed, split, i), o));
    await Promise.all(
      scenes.map(async (s, k) => {
        const fileName = `${String(batch[k]! + 1).padStart(12, '0')}.jpg`;
        const jpg = await sharp(Buffer.from(s.rgb.buffer, s.rgb.byteOffset, s.rgb.byteLength), { raw: { width: s.width, height: s.height, channels: 3 } })
          .jpeg({ ...gen.jpeg, ...(o.jpegQuality !== undefined ? { quality: o.jpegQuality } : {}) })
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
      description: gen.description,
      version: `${gen.version}`,
      year: 2026,
      contributor: 'cornernet synth',
      date_created: '',
      parameters: o.kind === 'varied'
        ? { kind: o.kind, split, count, size: o.size, seed: o.seed, maxObjects: o.maxObjects ?? 5 }
        : { split, count, size: o.size, seed: o.seed, maxObjects: o.maxObjects ?? 4 },
    },
    licenses: [{ id: 1, name: 'CC0 1.0 (generated data)', url: 'https://creativecommons.org/publicdomain/zero/1.0/' }],
    images,
    annotations,
    categories: gen.classes.map((c) => ({ id: c.id, name: c.name, supercategory: 'shape' })),
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
  if (o.kind !== undefined && !SYNTH_KINDS.includes(o.kind)) throw new RangeError(`synth: --kind must be one of ${SYNTH_KINDS.join(', ')}, got ${JSON.stringify(o.kind)}`);
  if (o.size > SYNTH_LIMITS.maxSize) throw new RangeError(`synth: --size must be at most ${SYNTH_LIMITS.maxSize}, got ${o.size}`);
  if (o.train + o.val === 0) throw new RangeError('synth: nothing to write (--train and --val are both 0)');
  fs.mkdirSync(out, { recursive: true });
  const res: SynthResult = { out: path.resolve(out), images: { train: o.train, val: o.val }, annotations: { train: 0, val: 0 } };
  if (o.train > 0) res.annotations.train = await writeSplit(out, 'train', o.train, o);
  if (o.val > 0) res.annotations.val = await writeSplit(out, 'val', o.val, o);
  return res;
}
