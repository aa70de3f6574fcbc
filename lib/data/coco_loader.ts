// Loads and validates a COCO instances file (annotations/instances_<split>.json).
// Structural problems (missing or ill-typed fields, duplicate ids, references to
// unknown images or categories) stop the load with a CocoFormatError naming the
// file, the element and the field. Box problems are reported in `issues` and the
// annotation is kept out of training (COCO train2017 itself has two boxes of
// height 0), unless `strict` makes them errors too.
import * as path from 'path';

import { CocoFormatError, describeValue } from './coco_errors';
import type { CocoAnnotations, CocoCategory, CocoDataset, CocoImage, DataIssue, TrainTargets } from './coco_types';
import { AnnFlag } from './coco_types';
import { Column } from './columns';
import { streamSections } from './json_sections';

export interface LoadOptions {
  /** Folder holding the images (file_name is resolved against it). */
  imageDir: string;
  /** Throw on the first box problem instead of reporting it. */
  strict?: boolean;
  /** Boxes may spill over the image edge by this much (float rounding in COCO) before it is reported. */
  edgeTolerance?: number;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export async function loadCoco(annotationFile: string, opts: LoadOptions): Promise<CocoDataset> {
  const file = path.resolve(annotationFile);
  const tol = opts.edgeTolerance ?? 1;
  const fail = (where: string, problem: string): never => {
    throw new CocoFormatError(file, where, problem);
  };
  const num = (o: Record<string, unknown>, where: string, key: string, what = 'a number'): number => {
    const v = o[key];
    if (v === undefined) fail(`${where}.${key}`, `missing field '${key}'`);
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${where}.${key}`, `must be ${what}, got ${describeValue(v)}`);
    return v as number;
  };
  const int = (o: Record<string, unknown>, where: string, key: string): number => {
    const v = num(o, where, key, 'an integer');
    if (!Number.isInteger(v)) fail(`${where}.${key}`, `must be an integer, got ${v}`);
    return v;
  };
  const str = (o: Record<string, unknown>, where: string, key: string): string => {
    const v = o[key];
    if (v === undefined) fail(`${where}.${key}`, `missing field '${key}'`);
    if (typeof v !== 'string' || v.length === 0) fail(`${where}.${key}`, `must be a non-empty string, got ${describeValue(v)}`);
    return v as string;
  };

  const images: CocoImage[] = [];
  const imageIndexById = new Map<number, number>();
  const categories: CocoCategory[] = [];
  const categoryIndexById = new Map<number, number>();
  const annId = new Column(Float64Array);
  const annImageId = new Column(Float64Array);
  const annCategoryId = new Column(Float64Array);
  const annBox = new Column(Float32Array, 4);
  const annArea = new Column(Float32Array);
  const annCrowd = new Column(Uint8Array);
  const segmentation = { polygon: 0, rle: 0, none: 0 };
  let info: unknown = undefined;
  let licenses = 0;
  const sections = new Set<string>();

  await streamSections(file, {
    arrays: new Set(['images', 'annotations', 'categories', 'licenses']),
    whole: new Set(['info']),
    skipKeys: {
      annotations: {
        key: 'segmentation',
        // A polygon list is an array, RLE an object {size, counts}.
        onSkip: (kind) => void (kind === 'array' ? segmentation.polygon++ : kind === 'object' ? segmentation.rle++ : segmentation.none++),
      },
    },
    onSection: (s) => void sections.add(s),
    onWhole: (_s, v) => void (info = v),
    onElement: (section, i, v) => {
      const where = `${section}[${i}]`;
      const o = v as Record<string, unknown>;
      if (section === 'images') {
        const id = int(o, where, 'id');
        const fileName = str(o, where, 'file_name');
        const width = int(o, where, 'width');
        const height = int(o, where, 'height');
        if (width <= 0) fail(`${where}.width`, `must be positive, got ${width}`);
        if (height <= 0) fail(`${where}.height`, `must be positive, got ${height}`);
        const prev = imageIndexById.get(id);
        if (prev !== undefined) fail(`${where}.id`, `duplicate image id ${id} (also images[${prev}])`);
        imageIndexById.set(id, images.length);
        images.push({ id, fileName, width, height });
      } else if (section === 'categories') {
        const id = int(o, where, 'id');
        const name = str(o, where, 'name');
        const prev = categoryIndexById.get(id);
        if (prev !== undefined) fail(`${where}.id`, `duplicate category id ${id} (also categories[${prev}])`);
        categoryIndexById.set(id, categories.length);
        const c: CocoCategory = { id, name };
        if (typeof o.supercategory === 'string') c.supercategory = o.supercategory;
        categories.push(c);
      } else if (section === 'annotations') {
        const id = num(o, where, 'id');
        const imageId = num(o, where, 'image_id');
        const categoryId = num(o, where, 'category_id');
        const b = o.bbox;
        if (b === undefined) fail(`${where}.bbox`, "missing field 'bbox'");
        if (!Array.isArray(b) || b.length !== 4 || !b.every((x) => typeof x === 'number' && Number.isFinite(x)))
          fail(`${where}.bbox`, `must be an array of 4 numbers [x, y, width, height], got ${describeValue(b)}`);
        const [x, y, w, h] = b as number[];
        let crowd = 0;
        if (o.iscrowd !== undefined) {
          if (o.iscrowd === 0 || o.iscrowd === false) crowd = 0;
          else if (o.iscrowd === 1 || o.iscrowd === true) crowd = 1;
          else fail(`${where}.iscrowd`, `must be 0 or 1, got ${describeValue(o.iscrowd)}`);
        }
        let area = w! * h!;
        if (o.area !== undefined) {
          area = num(o, where, 'area');
          if (area < 0) fail(`${where}.area`, `must not be negative, got ${area}`);
        }
        annId.push(id);
        annImageId.push(imageId);
        annCategoryId.push(categoryId);
        annBox.push(x!, y!, w!, h!);
        annArea.push(area);
        annCrowd.push(crowd);
      } else if (section === 'licenses') {
        if (!isObj(v)) fail(where, 'must be an object');
        licenses++;
      }
    },
  });
  for (const s of ['images', 'annotations', 'categories'])
    if (!sections.has(s)) fail('', `missing top-level field '${s}' (is this a COCO instances file?)`);
  if (categories.length === 0) fail('categories', 'is empty: at least one category is needed');

  // Labels follow ascending category id, as mmdet's CocoDataset does for COCO's 80 classes.
  const sortedCats = [...categories].sort((a, b) => a.id - b.id);
  const categoryIdToLabel = new Map<number, number>();
  sortedCats.forEach((c, i) => categoryIdToLabel.set(c.id, i));

  const n = annId.length;
  const ids = annId.finish();
  const imageIds = annImageId.finish();
  const catIds = annCategoryId.finish();
  const bbox = annBox.finish();
  const ann: CocoAnnotations = {
    count: n,
    id: ids,
    imageIndex: new Int32Array(n),
    label: new Int32Array(n),
    bbox,
    area: annArea.finish(),
    iscrowd: annCrowd.finish(),
    flags: new Uint8Array(n),
    imageStart: new Int32Array(images.length + 1),
    order: new Int32Array(n),
  };
  checkUniqueIds(file, ids);

  const issues: DataIssue[] = [];
  const report = (i: number, field: string, message: string) => {
    if (opts.strict) fail(`annotations[${i}].${field}`, message);
    issues.push({ file, where: `annotations[${i}].${field}`, message });
  };
  for (let i = 0; i < n; i++) {
    const ii = imageIndexById.get(imageIds[i]!);
    if (ii === undefined) fail(`annotations[${i}].image_id`, `no image with id ${imageIds[i]} in 'images'`);
    const label = categoryIdToLabel.get(catIds[i]!);
    if (label === undefined) fail(`annotations[${i}].category_id`, `unknown category id ${catIds[i]} (not in 'categories')`);
    ann.imageIndex[i] = ii!;
    ann.label[i] = label!;
    const img = images[ii!]!;
    const x = bbox[4 * i]!, y = bbox[4 * i + 1]!, w = bbox[4 * i + 2]!, h = bbox[4 * i + 3]!;
    let flags = ann.iscrowd[i] ? AnnFlag.Crowd : 0;
    const box = `[${+x.toFixed(2)}, ${+y.toFixed(2)}, ${+w.toFixed(2)}, ${+h.toFixed(2)}]`;
    if (!(w > 0 && h > 0)) {
      report(i, 'bbox', `box ${box} has non-positive size (width ${+w.toFixed(2)}, height ${+h.toFixed(2)}); not used for training`);
      flags |= AnnFlag.Invalid;
    } else if (x >= img.width || y >= img.height || x + w <= 0 || y + h <= 0) {
      report(i, 'bbox', `box ${box} lies outside image ${img.id} (${img.width}x${img.height}); not used for training`);
      flags |= AnnFlag.Invalid;
    } else if (x < -tol || y < -tol || x + w > img.width + tol || y + h > img.height + tol) {
      report(i, 'bbox', `box ${box} extends outside image ${img.id} (${img.width}x${img.height}) by more than ${tol} px; kept, clipped by the crop`);
    }
    // mmdet's CocoDataset._parse_ann_info drops these from training without a word; counted in the summary.
    if (!(flags & AnnFlag.Invalid) && (w < 1 || h < 1 || ann.area[i]! <= 0)) flags |= AnnFlag.Tiny;
    ann.flags[i] = flags;
  }
  // CSR by image, keeping file order within an image (a stable counting sort).
  for (let i = 0; i < n; i++) ann.imageStart[ann.imageIndex[i]! + 1]!++;
  for (let k = 0; k < images.length; k++) ann.imageStart[k + 1]! += ann.imageStart[k]!;
  const fill = ann.imageStart.slice(0, images.length);
  for (let i = 0; i < n; i++) ann.order[fill[ann.imageIndex[i]!]!++] = i;

  return {
    annotationFile: file,
    imageDir: path.resolve(opts.imageDir),
    info,
    licenses,
    images,
    categories,
    categoryIdToLabel,
    labelToCategoryId: sortedCats.map((c) => c.id),
    annotations: ann,
    segmentation,
    issues,
  };
}

function checkUniqueIds(file: string, ids: Float64Array): void {
  const sorted = ids.slice().sort();
  for (let k = 1; k < sorted.length; k++) {
    if (sorted[k] === sorted[k - 1]) {
      const dup = sorted[k]!;
      const first = ids.indexOf(dup);
      const second = ids.indexOf(dup, first + 1);
      throw new CocoFormatError(file, `annotations[${second}].id`, `duplicate annotation id ${dup} (also annotations[${first}])`);
    }
  }
}

/** The annotation indices of image `imageIndex`, in file order. */
export function annotationsOf(ds: CocoDataset, imageIndex: number): Int32Array {
  const a = ds.annotations;
  return a.order.subarray(a.imageStart[imageIndex]!, a.imageStart[imageIndex + 1]!);
}

/** Training boxes (x1, y1, x2, y2) and labels of one image: no crowd, invalid or tiny boxes. */
export function trainTargets(ds: CocoDataset, imageIndex: number): TrainTargets {
  const idx = annotationsOf(ds, imageIndex);
  const a = ds.annotations;
  const keep: number[] = [];
  for (const i of idx) if (a.flags[i] === 0) keep.push(i);
  const boxes = new Float32Array(keep.length * 4);
  const labels = new Int32Array(keep.length);
  keep.forEach((i, k) => {
    const x = a.bbox[4 * i]!, y = a.bbox[4 * i + 1]!;
    boxes[4 * k] = x;
    boxes[4 * k + 1] = y;
    boxes[4 * k + 2] = x + a.bbox[4 * i + 2]!;
    boxes[4 * k + 3] = y + a.bbox[4 * i + 3]!;
    labels[k] = a.label[i]!;
  });
  return { boxes, labels };
}

export interface TrainFilter {
  /** mmdet's CocoDataset drops images whose shorter side is under this (default 32). */
  minSize?: number;
}

/**
 * Images used for training, as mmdet's CocoDataset._filter_imgs chooses them:
 * only images with at least one annotation (of any kind) and both sides >= minSize.
 */
export function trainImageIndices(ds: CocoDataset, f: TrainFilter = {}): number[] {
  const minSize = f.minSize ?? 32;
  const out: number[] = [];
  ds.images.forEach((img, i) => {
    const n = ds.annotations.imageStart[i + 1]! - ds.annotations.imageStart[i]!;
    if (n > 0 && Math.min(img.width, img.height) >= minSize) out.push(i);
  });
  return out;
}

export interface DatasetSummary {
  images: number;
  annotations: number;
  categories: number;
  crowd: number;
  invalid: number;
  tiny: number;
  trainImages: number;
}

export function summarize(ds: CocoDataset): DatasetSummary {
  const a = ds.annotations;
  let crowd = 0, invalid = 0, tiny = 0;
  for (let i = 0; i < a.count; i++) {
    if (a.flags[i]! & AnnFlag.Crowd) crowd++;
    if (a.flags[i]! & AnnFlag.Invalid) invalid++;
    if (a.flags[i]! & AnnFlag.Tiny) tiny++;
  }
  return {
    images: ds.images.length,
    annotations: a.count,
    categories: ds.categories.length,
    crowd,
    invalid,
    tiny,
    trainImages: trainImageIndices(ds).length,
  };
}
