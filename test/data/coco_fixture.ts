// A small dataset in real COCO layout, made by the tests: the fields real COCO
// files carry (info, licenses, polygon and RLE segmentation, iscrowd, area),
// non-contiguous category ids, an image without annotations and one too small
// for training. `mutate` edits the JSON to make malformed variants.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

export type CocoJson = {
  info?: unknown;
  licenses?: unknown[];
  images: Record<string, unknown>[];
  annotations: Record<string, unknown>[];
  categories: Record<string, unknown>[];
  [k: string]: unknown;
};

export function baseCocoJson(): CocoJson {
  return {
    info: { description: 'test', url: 'http://example.invalid', version: '1.0', year: 2017, contributor: 'tests', date_created: '2017/09/01' },
    licenses: [{ url: 'http://creativecommons.org/licenses/by/2.0/', id: 4, name: 'Attribution License' }],
    images: [
      { license: 4, file_name: '000000000001.jpg', coco_url: '', height: 48, width: 64, date_captured: '2013-11-14 17:02:52', flickr_url: '', id: 1 },
      { license: 4, file_name: '000000000002.jpg', coco_url: '', height: 40, width: 40, date_captured: '2013-11-14 17:02:52', flickr_url: '', id: 2 },
      // no annotations: filtered out of training
      { license: 4, file_name: '000000000003.jpg', coco_url: '', height: 40, width: 50, date_captured: '', flickr_url: '', id: 3 },
      // shorter side under 32: filtered out of training (mmdet min_size)
      { license: 4, file_name: '000000000004.jpg', coco_url: '', height: 20, width: 40, date_captured: '', flickr_url: '', id: 4 },
    ],
    annotations: [
      { segmentation: [[10, 10, 30, 10, 30, 25, 10, 25]], area: 300, iscrowd: 0, image_id: 1, bbox: [10, 10, 20, 15], category_id: 18, id: 101 },
      { segmentation: [[40.5, 5, 60, 5, 60, 40, 40.5, 40]], area: 682.5, iscrowd: 0, image_id: 1, bbox: [40.5, 5, 19.5, 35], category_id: 1, id: 102 },
      { segmentation: { counts: [0, 12, 28, 12, 1560], size: [40, 40] }, area: 144, iscrowd: 1, image_id: 2, bbox: [0, 0, 12, 12], category_id: 1, id: 900100000103 },
      { segmentation: [[5, 20, 35, 20, 35, 35, 5, 35]], area: 450, iscrowd: 0, image_id: 2, bbox: [5, 20, 30, 15], category_id: 90, id: 104 },
      { segmentation: [[1, 1, 10, 1, 10, 10]], area: 40, iscrowd: 0, image_id: 4, bbox: [1, 1, 9, 9], category_id: 90, id: 105 },
    ],
    categories: [
      { supercategory: 'person', id: 1, name: 'person' },
      { supercategory: 'animal', id: 18, name: 'dog' },
      { supercategory: 'indoor', id: 90, name: 'toothbrush' },
    ],
  };
}

export interface Fixture {
  root: string;
  annFile: string;
  imageDir: string;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cn-${prefix}-`));
}

/** Writes the dataset (JPEG images of the sizes the JSON names) under a new temp folder. */
export async function makeCocoFixture(mutate?: (j: CocoJson) => void, split = 'train2017'): Promise<Fixture> {
  const root = tmpDir('coco');
  const j = baseCocoJson();
  const imageDir = path.join(root, split);
  fs.mkdirSync(imageDir, { recursive: true });
  fs.mkdirSync(path.join(root, 'annotations'));
  for (const im of j.images) {
    const w = im.width as number, h = im.height as number;
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37) % 251;
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(path.join(imageDir, im.file_name as string));
  }
  mutate?.(j);
  const annFile = path.join(root, 'annotations', `instances_${split}.json`);
  fs.writeFileSync(annFile, JSON.stringify(j, null, 1));
  return { root, annFile, imageDir };
}

/** A FIFO (named pipe) at `file`: opening it for reading blocks until a writer comes, which never does. */
export function makeFifo(file: string): void {
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo ${file}: ${r.stderr?.toString() ?? r.error?.message}`);
}
