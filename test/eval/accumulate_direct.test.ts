// accumulate() takes shortcuts (one counting sort per category, values kept at true positives only); this
// checks them against the plain per-detection computation the reference does, on random cases.
import { strict as assert } from 'assert';

import { generateCocoCase } from '../../bench/coco_eval';
import { accumulate, evaluateImages, type ImageEvaluation } from '../../lib/eval/coco_eval';
import { parseDetections, parseGroundTruth } from '../../lib/eval/coco_json';
import { AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS } from '../../lib/eval/coco_params';

/** First index with xs[i] >= v (numpy searchsorted side='left'). */
function searchLeft(xs: number[], v: number): number {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function directAccumulate(ev: ImageEvaluation, scores: Float64Array): { precision: Float64Array; recall: Float64Array } {
  const T = IOU_THRESHOLDS.length, R = RECALL_THRESHOLDS.length, K = ev.numCategories, A = AREA_RANGES.length, M = MAX_DETS.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  for (let k = 0; k < K; k++) {
    for (let m = 0; m < M; m++) {
      // Each image's first maxDets, concatenated in image order, then stably sorted by score.
      const dets: number[] = [];
      for (let p = ev.categoryStart[k]!; p < ev.categoryStart[k + 1]!; p++) if (ev.keptRank[p]! < MAX_DETS[m]!) dets.push(p);
      dets.sort((a, b) => scores[ev.kept[b]!]! - scores[ev.kept[a]!]! || a - b);
      for (let a = 0; a < A; a++) {
        const npig = ev.gtCount[k * A + a]!;
        if (npig === 0) continue;
        for (let t = 0; t < T; t++) {
          const rc: number[] = [], pr: number[] = [];
          let tp = 0, fp = 0;
          for (const p of dets) {
            const o = ev.outcome[(p * A + a) * T + t];
            if (o === 1) tp++;
            if (o === 0) fp++;
            rc.push(tp / npig);
            pr.push(tp / (fp + tp + Number.EPSILON));
          }
          recall[((t * K + k) * A + a) * M + m] = dets.length ? rc[rc.length - 1]! : 0;
          for (let i = pr.length - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
          for (let r = 0; r < R; r++) {
            const i = searchLeft(rc, RECALL_THRESHOLDS[r]!);
            precision[(((t * R + r) * K + k) * A + a) * M + m] = i < pr.length ? pr[i]! : 0;
          }
        }
      }
    }
  }
  return { precision, recall };
}

describe('accumulate vs the per-detection computation', () => {
  for (const [seed, images, dets] of [[1, 300, 100], [2, 200, 30], [3, 400, 5]] as const) {
    it(`seed ${seed}: ${images} images, ${dets} detections each`, () => {
      const c = generateCocoCase(seed, images, dets);
      const gt = parseGroundTruth(c.gt);
      const dt = parseDetections(c.dt, gt);
      const ev = evaluateImages(gt, dt);
      const fast = accumulate(ev, dt.scores);
      const direct = directAccumulate(ev, dt.scores);
      assert.ok(fast.precision.some((v) => v > 0), 'the case should have some true positives');
      assert.deepEqual(fast.precision, direct.precision);
      assert.deepEqual(fast.recall, direct.recall);
    });
  }
});
