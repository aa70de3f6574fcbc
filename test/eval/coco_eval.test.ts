// Hand-made cases whose reference answers follow from pycocotools' rules, one rule per case.
import { strict as assert } from 'assert';
import { readFileSync } from 'fs';
import { join } from 'path';

import { evaluateCoco, evaluateCocoJson } from '../../lib/eval/coco_eval';
import type { CocoAnnotationJson, CocoDetectionJson, CocoGroundTruthJson } from '../../lib/eval/coco_json';
import { readDetections, readGroundTruth } from '../../lib/eval/coco_json';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'cocoeval');

function ann(id: number, imageId: number, bbox: number[], extra: Partial<CocoAnnotationJson> = {}): CocoAnnotationJson {
  return { id, image_id: imageId, category_id: 1, bbox, area: bbox[2]! * bbox[3]!, iscrowd: 0, ...extra };
}

function det(imageId: number, bbox: number[], score: number, categoryId = 1): CocoDetectionJson {
  return { image_id: imageId, category_id: categoryId, bbox, score };
}

function gtOf(imageIds: number[], annotations: CocoAnnotationJson[]): CocoGroundTruthJson {
  return {
    images: imageIds.map((id) => ({ id })),
    annotations,
    categories: [{ id: 1, name: 'thing' }, { id: 5, name: 'other' }],
  };
}

/** Precision is tp / (tp + fp + eps) in the reference, so a perfect 1 comes out as 1 - 2e-16. */
function close(actual: number | undefined, expected: number, what = ''): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= 1e-12, `${what} got ${actual}, want ${expected}`);
}

function closeAll(actual: readonly number[], expected: readonly number[]): void {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => close(actual[i], e, `[${i}]`));
}

const [AP, AP50, AP75, APS, APM, APL, AR1, AR10, AR100, ARS, ARM, ARL] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

describe('COCO bbox evaluation rules', () => {
  it('a perfect detection gives 1 in its area range and -1 where there is no ground truth', () => {
    const r = evaluateCocoJson(gtOf([1], [ann(1, 1, [10, 10, 20, 25])]), [det(1, [10, 10, 20, 25], 0.9)]);
    closeAll(r.stats, [1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1]);
    assert.deepEqual(r.perCategory.map((c) => [c.id, c.name]), [[1, 'thing'], [5, 'other']]);
    closeAll(r.perCategory.map((c) => c.ap), [1, -1]);
  });

  it('a crowd region absorbs any number of detections, which then count for nothing', () => {
    const anns = [ann(1, 1, [0, 0, 50, 50]), ann(2, 1, [100, 100, 200, 200], { iscrowd: 1 })];
    const dets = [det(1, [0, 0, 50, 50], 0.9), det(1, [110, 110, 40, 40], 0.95), det(1, [200, 150, 60, 60], 0.8)];
    close(evaluateCocoJson(gtOf([1], anns), dets).stats[AP], 1);
    // The same boxes without the crowd flag: the two extra detections are plain false positives.
    const plain = evaluateCocoJson(gtOf([1], [anns[0]!, { ...anns[1]!, iscrowd: 0 }]), dets).stats[AP]!;
    assert.ok(plain < 1, `AP ${plain}`);
  });

  it('tied scores across images are ranked by image id, not by file order', () => {
    // Image 3: a missed gt and a detection elsewhere (FP); image 7: a perfect detection (TP); same score.
    const gt = gtOf([7, 3], [ann(1, 7, [0, 0, 40, 40]), ann(2, 3, [0, 0, 40, 40])]);
    const tp = det(7, [0, 0, 40, 40], 0.5);
    const fp = det(3, [300, 300, 40, 40], 0.5);
    // Order FP, TP: precision 0 then 1/2, interpolated 1/2 up to recall 1/2 (51 of 101 points).
    for (const dets of [[tp, fp], [fp, tp]]) close(evaluateCocoJson(gt, dets).stats[AP], (0.5 * 51) / 101);
    // Swap which image holds the FP: now the TP comes first and precision is 1 up to recall 1/2.
    const gt2 = gtOf([7, 3], [ann(1, 3, [0, 0, 40, 40]), ann(2, 7, [0, 0, 40, 40])]);
    const r2 = evaluateCocoJson(gt2, [det(7, [300, 300, 40, 40], 0.5), det(3, [0, 0, 40, 40], 0.5)]);
    close(r2.stats[AP], 51 / 101);
  });

  it('scores 0 and -0 tie', () => {
    // A false positive scored -0 on image 3 and a true positive scored 0 on image 7: tied, so image 3 first.
    const gt = gtOf([3, 7], [ann(1, 3, [0, 0, 40, 40]), ann(2, 7, [0, 0, 40, 40])]);
    const r = evaluateCocoJson(gt, [det(7, [0, 0, 40, 40], 0), det(3, [300, 300, 40, 40], -0)]);
    close(r.stats[AP], (0.5 * 51) / 101);
  });

  it('tied scores within an image keep file order', () => {
    const gt = gtOf([1], [ann(1, 1, [0, 0, 40, 40])]);
    const good = det(1, [0, 0, 40, 40], 0.5);
    const miss = det(1, [300, 300, 40, 40], 0.5);
    close(evaluateCocoJson(gt, [good, miss]).stats[AR1], 1);
    close(evaluateCocoJson(gt, [miss, good]).stats[AR1], 0);
  });

  it('maxDets keeps only the best-scoring detections of each image', () => {
    const gt = gtOf([1], [ann(1, 1, [0, 0, 40, 40])]);
    const dets = [det(1, [0, 0, 40, 40], 0.2), det(1, [300, 300, 40, 40], 0.9)];
    const r = evaluateCocoJson(gt, dets);
    close(r.stats[AR1], 0);
    close(r.stats[AR10], 1);
    // 101 detections: the true positive ranks 101st and falls outside maxDets 100 too.
    const many = Array.from({ length: 100 }, (_, i) => det(1, [300 + i, 300, 40, 40], 0.9));
    close(evaluateCocoJson(gt, [...many, dets[0]!]).stats[AR100], 0);
    close(evaluateCocoJson(gt, [...many.slice(1), dets[0]!]).stats[AR100], 1);
  });

  it('an unmatched detection outside an area range is ignored there', () => {
    // One large gt found exactly, plus a small false positive: it hurts AP over all areas, not AP_large.
    const gt = gtOf([1], [ann(1, 1, [0, 0, 200, 200])]);
    const r = evaluateCocoJson(gt, [det(1, [0, 0, 200, 200], 0.5), det(1, [300, 300, 10, 10], 0.9)]);
    close(r.stats[APL], 1);
    assert.ok(r.stats[AP]! < 1);
    close(r.stats[APS], -1);
  });

  it('the small/medium/large split of ground truth uses its area field, bounds inclusive', () => {
    // A 40x40 box whose area field says 1024 (= 32^2): both small and medium.
    const gt = gtOf([1], [ann(1, 1, [0, 0, 40, 40], { area: 1024 })]);
    const r = evaluateCocoJson(gt, [det(1, [0, 0, 40, 40], 0.5)]);
    close(r.stats[APS], 1);
    close(r.stats[APM], 1);
    close(r.stats[APL], -1);
    close(r.stats[ARS], 1);
    close(r.stats[ARM], 1);
    close(r.stats[ARL], -1);
  });

  it('a match needs IoU >= the threshold', () => {
    // IoU exactly 0.5: counts at .50, not at .55 and above.
    const gt = gtOf([1], [ann(1, 1, [0, 0, 100, 100])]);
    const r = evaluateCocoJson(gt, [det(1, [0, 0, 100, 50], 0.5)]);
    close(r.stats[AP50], 1);
    close(r.stats[AP75], 0);
    close(r.stats[AP], 0.1);
  });

  it('no detections at all gives zeros where there is ground truth', () => {
    const r = evaluateCocoJson(gtOf([1, 2], [ann(1, 2, [0, 0, 10, 10])]), []);
    closeAll(r.stats, [0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1]);
  });

  it('in-memory objects give the same result as the files', () => {
    const dir = join(FIXTURES, 'case07');
    const fromJson = evaluateCocoJson(
      JSON.parse(readFileSync(join(dir, 'gt.json'), 'utf8')),
      JSON.parse(readFileSync(join(dir, 'dt.json'), 'utf8')),
    );
    const gt = readGroundTruth(join(dir, 'gt.json'));
    const fromFiles = evaluateCoco(gt, readDetections(join(dir, 'dt.json'), gt));
    assert.deepEqual(fromJson.stats, fromFiles.stats);
    assert.deepEqual(fromJson.perCategory, fromFiles.perCategory);
  });
});
