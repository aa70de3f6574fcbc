// Reading and validating COCO ground truth (instances JSON) and detections (results JSON) into the columnar
// form the evaluator works on. Anything the reference would trip over, or would drop without a word, is an
// Error naming the source, the index and the field.
import { JsonFileError, readJsonFile, shortJson } from '../io/json_file';

/** One ground-truth annotation as it appears in an instances JSON (other fields, e.g. segmentation, are ignored). */
export interface CocoAnnotationJson {
  id: number;
  image_id: number;
  category_id: number;
  /** [x, y, width, height] */
  bbox: number[];
  /** Used for the small/medium/large split (for COCO it is the segment's area, not the box's). */
  area: number;
  iscrowd: number | boolean;
}

export interface CocoImageJson {
  id: number;
}

export interface CocoCategoryJson {
  id: number;
  name: string;
}

export interface CocoGroundTruthJson {
  images: CocoImageJson[];
  annotations: CocoAnnotationJson[];
  categories: CocoCategoryJson[];
}

/** One detection in the COCO results format. */
export interface CocoDetectionJson {
  image_id: number;
  category_id: number;
  /** [x, y, width, height] */
  bbox: number[];
  score: number;
}

/** Validated ground truth. Images and categories are in ascending id order; annotations keep file order. */
export interface CocoGroundTruth {
  readonly source: string;
  readonly imageIds: readonly number[];
  readonly categoryIds: readonly number[];
  readonly categoryNames: readonly string[];
  readonly imageIndex: ReadonlyMap<number, number>;
  readonly categoryIndex: ReadonlyMap<number, number>;
  /** Number of annotations. */
  readonly count: number;
  readonly annotationIds: Float64Array;
  /** Index into imageIds, per annotation. */
  readonly image: Int32Array;
  /** Index into categoryIds, per annotation. */
  readonly category: Int32Array;
  /** x, y, w, h per annotation. */
  readonly boxes: Float64Array;
  readonly areas: Float64Array;
  readonly crowd: Uint8Array;
}

/** Validated detections, in file order. */
export interface CocoDetections {
  readonly source: string;
  readonly count: number;
  readonly image: Int32Array;
  readonly category: Int32Array;
  /** x, y, w, h per detection. */
  readonly boxes: Float64Array;
  readonly scores: Float64Array;
}

export class CocoInputError extends Error {
  override name = 'CocoInputError';
}

const show = (v: unknown): string => shortJson(v);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks one record's fields; every message names source, path and field. */
class FieldReader {
  constructor(
    private readonly source: string,
    private readonly path: string,
    private readonly rec: Record<string, unknown>,
  ) {}

  fail(field: string, what: string): never {
    throw new CocoInputError(`${this.source}: ${this.path}.${field} ${what}`);
  }

  private present(field: string): unknown {
    if (!(field in this.rec)) this.fail(field, 'is missing');
    return this.rec[field];
  }

  integer(field: string): number {
    const v = this.present(field);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(field, `must be an integer (got ${show(v)})`);
    return v;
  }

  finite(field: string, nonNegative = false): number {
    const v = this.present(field);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `must be a finite number (got ${show(v)})`);
    if (nonNegative && v < 0) this.fail(field, `must not be negative (got ${show(v)})`);
    return v;
  }

  string(field: string): string {
    const v = this.present(field);
    if (typeof v !== 'string') this.fail(field, `must be a string (got ${show(v)})`);
    return v;
  }

  /** Writes x, y, w, h at out[4*i..]. Negative sizes are refused: the IoU of such a box means nothing. */
  bbox(out: Float64Array, i: number): void {
    const v = this.present('bbox');
    if (!Array.isArray(v) || v.length !== 4 || !v.every((c) => typeof c === 'number' && Number.isFinite(c))) {
      this.fail('bbox', `must be 4 finite numbers [x,y,w,h] (got ${show(v)})`);
    }
    const b = v as number[];
    if (b[2]! < 0 || b[3]! < 0) this.fail('bbox', `must have a non-negative width and height (got ${show(v)})`);
    out[4 * i] = b[0]!;
    out[4 * i + 1] = b[1]!;
    out[4 * i + 2] = b[2]!;
    out[4 * i + 3] = b[3]!;
  }
}

function records(source: string, path: string, v: unknown): Record<string, unknown>[] {
  if (!Array.isArray(v)) throw new CocoInputError(`${source}: ${path || 'the top level'} must be an array (got ${show(v)})`);
  v.forEach((r, i) => {
    if (!isRecord(r)) throw new CocoInputError(`${source}: ${path}[${i}] must be an object (got ${show(r)})`);
  });
  return v as Record<string, unknown>[];
}

/** Validates a parsed instances JSON. `source` names it in errors (the file name when read from disk). */
export function parseGroundTruth(json: unknown, source = 'gt'): CocoGroundTruth {
  if (!isRecord(json)) throw new CocoInputError(`${source}: must be a COCO object with images, annotations and categories (got ${show(json)})`);
  for (const key of ['images', 'annotations', 'categories']) {
    if (!(key in json)) throw new CocoInputError(`${source}: ${key} is missing`);
  }
  const images = records(source, 'images', json.images);
  const categories = records(source, 'categories', json.categories);
  const annotations = records(source, 'annotations', json.annotations);

  const imageSeen = new Map<number, number>();
  images.forEach((im, i) => {
    const r = new FieldReader(source, `images[${i}]`, im);
    const id = r.integer('id');
    const prev = imageSeen.get(id);
    if (prev !== undefined) r.fail('id', `${id} repeats images[${prev}].id`);
    imageSeen.set(id, i);
  });
  const imageIds = [...imageSeen.keys()].sort((a, b) => a - b);
  const imageIndex = new Map(imageIds.map((id, i) => [id, i]));

  const catSeen = new Map<number, { i: number; name: string }>();
  categories.forEach((c, i) => {
    const r = new FieldReader(source, `categories[${i}]`, c);
    const id = r.integer('id');
    const name = r.string('name');
    const prev = catSeen.get(id);
    if (prev !== undefined) r.fail('id', `${id} repeats categories[${prev.i}].id`);
    catSeen.set(id, { i, name });
  });
  const categoryIds = [...catSeen.keys()].sort((a, b) => a - b);
  const categoryNames = categoryIds.map((id) => catSeen.get(id)!.name);
  const categoryIndex = new Map(categoryIds.map((id, k) => [id, k]));

  const n = annotations.length;
  const annotationIds = new Float64Array(n);
  const image = new Int32Array(n);
  const category = new Int32Array(n);
  const boxes = new Float64Array(4 * n);
  const areas = new Float64Array(n);
  const crowd = new Uint8Array(n);
  const annSeen = new Map<number, number>();
  annotations.forEach((a, i) => {
    const r = new FieldReader(source, `annotations[${i}]`, a);
    const id = r.integer('id');
    // The reference marks "unmatched" with id 0, so an annotation with id 0 could never count as matched.
    if (id <= 0) r.fail('id', `must be a positive integer (got ${id})`);
    const prev = annSeen.get(id);
    if (prev !== undefined) r.fail('id', `${id} repeats annotations[${prev}].id`);
    annSeen.set(id, i);
    annotationIds[i] = id;
    const imageId = r.integer('image_id');
    const ii = imageIndex.get(imageId) ?? r.fail('image_id', `${imageId} is not in images`);
    image[i] = ii;
    const catId = r.integer('category_id');
    const k = categoryIndex.get(catId) ?? r.fail('category_id', `${catId} is not in categories`);
    category[i] = k;
    r.bbox(boxes, i);
    areas[i] = r.finite('area', true);
    if (!('iscrowd' in a)) r.fail('iscrowd', 'is missing');
    const c = a.iscrowd;
    if (c !== 0 && c !== 1 && c !== true && c !== false) r.fail('iscrowd', `must be 0 or 1 (got ${show(c)})`);
    crowd[i] = c === 1 || c === true ? 1 : 0;
  });

  return {
    source, imageIds, categoryIds, categoryNames, imageIndex, categoryIndex,
    count: n, annotationIds, image, category, boxes, areas, crowd,
  };
}

/**
 * Validates a parsed results list against the ground truth. Every detection must name an image and a category
 * of the ground truth: the reference refuses unknown images and silently drops unknown categories, and a
 * silent drop would hide a label-mapping bug, so both are errors here.
 */
export function parseDetections(json: unknown, gt: CocoGroundTruth, source = 'dt'): CocoDetections {
  const dets = records(source, '', json);
  const n = dets.length;
  const image = new Int32Array(n);
  const category = new Int32Array(n);
  const boxes = new Float64Array(4 * n);
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = new FieldReader(source, `[${i}]`, dets[i]!);
    const imageId = r.integer('image_id');
    const ii = gt.imageIndex.get(imageId) ?? r.fail('image_id', `${imageId} is not an image of the ground truth (${gt.source})`);
    image[i] = ii;
    const catId = r.integer('category_id');
    const k = gt.categoryIndex.get(catId) ?? r.fail('category_id', `${catId} is not a category of the ground truth (${gt.source})`);
    category[i] = k;
    r.bbox(boxes, i);
    scores[i] = r.finite('score');
  }
  return { source, count: n, image, category, boxes, scores };
}

function readJson(file: string): unknown {
  try {
    return readJsonFile(file);
  } catch (e) {
    throw e instanceof JsonFileError ? new CocoInputError(e.message) : e;
  }
}

export function readGroundTruth(file: string): CocoGroundTruth {
  return parseGroundTruth(readJson(file), file);
}

export function readDetections(file: string, gt: CocoGroundTruth): CocoDetections {
  return parseDetections(readJson(file), gt, file);
}
