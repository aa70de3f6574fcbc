// Malformed ground truth and detections: each gets an error naming the source, the index and the field.
import { strict as assert } from 'assert';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

import {
  CocoInputError, parseDetections, parseGroundTruth, readDetections, readGroundTruth,
} from '../../lib/eval/coco_json';

type Json = Record<string, unknown>;

function goodGt(): { images: Json[]; annotations: Json[]; categories: Json[] } {
  return {
    images: [{ id: 4, file_name: 'a.jpg' }, { id: 2 }],
    categories: [{ id: 18, name: 'dog', supercategory: 'animal' }, { id: 1, name: 'person' }],
    annotations: [
      { id: 10, image_id: 4, category_id: 1, bbox: [1, 2, 3, 4], area: 10, iscrowd: 0, segmentation: [[0, 0]] },
      { id: 11, image_id: 2, category_id: 18, bbox: [1, 2, 30, 40], area: 900, iscrowd: 1 },
    ],
  };
}

function goodDt(): Json[] {
  return [
    { image_id: 4, category_id: 1, bbox: [1, 2, 3, 4], score: 0.9 },
    { image_id: 2, category_id: 18, bbox: [0, 0, 5, 5], score: 0.1, id: 77, area: 3 },
  ];
}

function gtError(mutate: (g: ReturnType<typeof goodGt>) => unknown, message: string): void {
  const g = goodGt();
  const v = mutate(g) ?? g;
  assert.throws(() => parseGroundTruth(v, 'gt.json'), (e: Error) => {
    assert.ok(e instanceof CocoInputError, `${e.name}: ${e.message}`);
    assert.equal(e.message, message);
    return true;
  });
}

function dtError(mutate: (d: Json[]) => unknown, message: string): void {
  const gt = parseGroundTruth(goodGt(), 'gt.json');
  const d = goodDt();
  const v = mutate(d) ?? d;
  assert.throws(() => parseDetections(v, gt, 'dt.json'), (e: Error) => {
    assert.ok(e instanceof CocoInputError, `${e.name}: ${e.message}`);
    assert.equal(e.message, message);
    return true;
  });
}

describe('COCO ground truth validation', () => {
  it('accepts a real-looking instances object and orders images and categories by id', () => {
    const gt = parseGroundTruth(goodGt(), 'gt.json');
    assert.deepEqual(gt.imageIds, [2, 4]);
    assert.deepEqual(gt.categoryIds, [1, 18]);
    assert.deepEqual(gt.categoryNames, ['person', 'dog']);
    assert.equal(gt.count, 2);
    assert.deepEqual([...gt.image], [1, 0]);
    assert.deepEqual([...gt.category], [0, 1]);
    assert.deepEqual([...gt.crowd], [0, 1]);
    assert.deepEqual([...gt.areas], [10, 900]);
    assert.deepEqual([...gt.boxes], [1, 2, 3, 4, 1, 2, 30, 40]);
  });

  it('names what is wrong', () => {
    gtError(() => [], 'gt.json: must be a COCO object with images, annotations and categories (got [])');
    gtError((g) => { delete (g as Partial<typeof g>).annotations; }, 'gt.json: annotations is missing');
    gtError((g) => { (g as Json).images = {}; }, 'gt.json: images must be an array (got {})');
    gtError((g) => { g.images[1] = 5 as unknown as Json; }, 'gt.json: images[1] must be an object (got 5)');
    gtError((g) => { g.images[1]!.id = 'x'; }, 'gt.json: images[1].id must be an integer (got "x")');
    gtError((g) => { g.images[1]!.id = 4; }, 'gt.json: images[1].id 4 repeats images[0].id');
    gtError((g) => { delete g.categories[0]!.name; }, 'gt.json: categories[0].name is missing');
    gtError((g) => { g.categories[1]!.id = 18; }, 'gt.json: categories[1].id 18 repeats categories[0].id');
    gtError((g) => { g.annotations[1]!.image_id = 99; }, 'gt.json: annotations[1].image_id 99 is not in images');
    gtError((g) => { g.annotations[0]!.category_id = 3; }, 'gt.json: annotations[0].category_id 3 is not in categories');
    gtError((g) => { g.annotations[1]!.id = 10; }, 'gt.json: annotations[1].id 10 repeats annotations[0].id');
    gtError((g) => { g.annotations[0]!.id = 0; }, 'gt.json: annotations[0].id must be a positive integer (got 0)');
    gtError((g) => { g.annotations[0]!.id = 1.5; }, 'gt.json: annotations[0].id must be an integer (got 1.5)');
    gtError((g) => { g.annotations[1]!.bbox = [1, 2, 3]; }, 'gt.json: annotations[1].bbox must be 4 finite numbers [x,y,w,h] (got [1,2,3])');
    gtError((g) => { g.annotations[1]!.bbox = [1, 2, '3', 4]; }, 'gt.json: annotations[1].bbox must be 4 finite numbers [x,y,w,h] (got [1,2,"3",4])');
    gtError((g) => { g.annotations[1]!.bbox = [1, 2, -3, 4]; }, 'gt.json: annotations[1].bbox must have a non-negative width and height (got [1,2,-3,4])');
    gtError((g) => { delete g.annotations[0]!.area; }, 'gt.json: annotations[0].area is missing');
    gtError((g) => { g.annotations[0]!.area = -1; }, 'gt.json: annotations[0].area must not be negative (got -1)');
    gtError((g) => { g.annotations[0]!.area = null; }, 'gt.json: annotations[0].area must be a finite number (got null)');
    gtError((g) => { delete g.annotations[0]!.iscrowd; }, 'gt.json: annotations[0].iscrowd is missing');
    gtError((g) => { g.annotations[0]!.iscrowd = 2; }, 'gt.json: annotations[0].iscrowd must be 0 or 1 (got 2)');
  });
});

describe('COCO detections validation', () => {
  it('accepts a results list, ignoring id and area fields', () => {
    const gt = parseGroundTruth(goodGt(), 'gt.json');
    const dt = parseDetections(goodDt(), gt, 'dt.json');
    assert.equal(dt.count, 2);
    assert.deepEqual([...dt.image], [1, 0]);
    assert.deepEqual([...dt.category], [0, 1]);
    assert.deepEqual([...dt.scores], [0.9, 0.1]);
    assert.deepEqual([...dt.boxes], [1, 2, 3, 4, 0, 0, 5, 5]);
    assert.equal(parseDetections([], gt, 'dt.json').count, 0);
  });

  it('names what is wrong', () => {
    dtError(() => ({ annotations: [] }), 'dt.json: the top level must be an array (got {"annotations":[]})');
    dtError((d) => { d[1] = [] as unknown as Json; }, 'dt.json: [1] must be an object (got [])');
    dtError((d) => { d[1]!.bbox = [0, 0, 5]; }, 'dt.json: [1].bbox must be 4 finite numbers [x,y,w,h] (got [0,0,5])');
    dtError((d) => { delete d[0]!.bbox; }, 'dt.json: [0].bbox is missing');
    dtError((d) => { d[0]!.bbox = [0, 0, 5, -1]; }, 'dt.json: [0].bbox must have a non-negative width and height (got [0,0,5,-1])');
    dtError((d) => { delete d[1]!.score; }, 'dt.json: [1].score is missing');
    dtError((d) => { d[1]!.score = '0.5'; }, 'dt.json: [1].score must be a finite number (got "0.5")');
    dtError((d) => { d[0]!.image_id = 3; }, 'dt.json: [0].image_id 3 is not an image of the ground truth (gt.json)');
    dtError((d) => { d[0]!.category_id = 2; }, 'dt.json: [0].category_id 2 is not a category of the ground truth (gt.json)');
    dtError((d) => { d[0]!.category_id = null; }, 'dt.json: [0].category_id must be an integer (got null)');
  });
});

describe('COCO JSON files', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cocojson-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads files and names them in errors', () => {
    const gtFile = join(dir, 'gt.json');
    const dtFile = join(dir, 'dt.json');
    writeFileSync(gtFile, JSON.stringify(goodGt()));
    writeFileSync(dtFile, JSON.stringify([...goodDt(), { image_id: 2, category_id: 1, bbox: [0, 0, 1, 1] }]));
    const gt = readGroundTruth(gtFile);
    assert.equal(gt.source, gtFile);
    assert.throws(() => readDetections(dtFile, gt), { message: `${dtFile}: [2].score is missing` });
  });

  it('reports a missing file and invalid JSON', () => {
    const missing = join(dir, 'nope.json');
    assert.throws(() => readGroundTruth(missing), { message: `${missing}: cannot be read (no such file)` });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"images": [');
    assert.throws(() => readGroundTruth(bad), (e: Error) => e.message.startsWith(`${bad}: not valid JSON (`));
  });
});
