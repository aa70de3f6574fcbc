// COCO bbox evaluation with the semantics of pycocotools' COCOeval (iouType 'bbox', default parameters):
// evaluate (per image & category matching), accumulate (precision/recall curves), summarize (the 12 stats).
// Everything is kept in flat typed arrays grouped by (category, image) so that a val2017-sized evaluation
// creates no per-detection objects.
import {
  AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS,
} from './coco_params';
import {
  parseDetections, parseGroundTruth, type CocoDetections, type CocoGroundTruth,
} from './coco_json';
import { meanOfPresent } from './pairwise_sum';

/** Outcome of one kept detection at one area range and IoU threshold (ImageEvaluation.outcome). */
const enum Outcome {
  FalsePositive = 0,
  TruePositive = 1,
  /** Matched to an ignored (crowd / out-of-range) gt, or unmatched with its own area out of range. */
  Ignored = 2,
}

/** What `evaluateImages` hands to `accumulate` (pycocotools' evalImgs, in columnar form). */
export interface ImageEvaluation {
  readonly numCategories: number;
  /**
   * Detections kept (the top MAX_DETS[-1] by score of each image & category), ordered by category, then
   * image id, then score rank: for one category this is the reference's concatenation over images.
   */
  readonly kept: Int32Array;
  /** Score rank of each kept detection within its image & category (0 = best). */
  readonly keptRank: Int32Array;
  /** kept[categoryStart[k] .. categoryStart[k+1]) are category k's. */
  readonly categoryStart: Int32Array;
  /**
   * Outcome per kept detection, area range, IoU threshold, index (keptPos * A + a) * T + t: 0 false positive,
   * 1 true positive, 2 ignored (matched to a crowd / out-of-range gt, or unmatched and itself out of range).
   */
  readonly outcome: Uint8Array;
  /** Non-ignored ground truth per category and area range: index k * A + a. */
  readonly gtCount: Int32Array;
}

/** pycocotools' eval['precision'] and eval['recall'], row-major, -1 where a setting has no ground truth. */
export interface Accumulation {
  /** [T, R, K, A, M] */
  readonly precision: Float64Array;
  /** [T, K, A, M] */
  readonly recall: Float64Array;
  readonly shape: { readonly T: number; readonly R: number; readonly K: number; readonly A: number; readonly M: number };
}

export interface CategoryAp {
  readonly id: number;
  readonly name: string;
  /** AP@[.50:.95], area all, 100 detections; -1 when the category has no (non-crowd) ground truth. */
  readonly ap: number;
}

export interface CocoEvalResult {
  /** The 12 numbers in the reference's order (see STAT_NAMES). */
  readonly stats: number[];
  readonly perCategory: CategoryAp[];
  readonly accumulation: Accumulation;
}

export const STAT_NAMES: readonly string[] = [
  'AP', 'AP50', 'AP75', 'AP_small', 'AP_medium', 'AP_large',
  'AR@1', 'AR@10', 'AR@100', 'AR_small', 'AR_medium', 'AR_large',
];

/** Stable counting sort of items by key in [0, numKeys): returns items per key, in their original order. */
function groupByKey(key: Int32Array, numKeys: number): { start: Int32Array; order: Int32Array } {
  const start = new Int32Array(numKeys + 1);
  for (let i = 0; i < key.length; i++) start[key[i]! + 1]!++;
  for (let k = 0; k < numKeys; k++) start[k + 1]! += start[k]!;
  const fill = start.slice(0, numKeys);
  const order = new Int32Array(key.length);
  for (let i = 0; i < key.length; i++) order[fill[key[i]!]!++] = i;
  return { start, order };
}

/**
 * Sorts detection indices by score, highest first; ties keep index order, which is what the reference's
 * stable argsort of -score gives (indices arrive in file order).
 */
function sortByScore(idx: number[], scores: Float64Array): void {
  const n = idx.length;
  if (n <= 32) {
    for (let i = 1; i < n; i++) {
      const v = idx[i]!;
      const s = scores[v]!;
      let j = i - 1;
      while (j >= 0 && scores[idx[j]!]! < s) {
        idx[j + 1] = idx[j]!;
        j--;
      }
      idx[j + 1] = v;
    }
    return;
  }
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

function grow(a: Float64Array<ArrayBuffer>, n: number): Float64Array<ArrayBuffer> {
  return a.length >= n ? a : new Float64Array(Math.max(n, 2 * a.length));
}

/** Per image & category matching of detections to ground truth (pycocotools' evaluate()). */
export function evaluateImages(gt: CocoGroundTruth, dt: CocoDetections): ImageEvaluation {
  const K = gt.categoryIds.length;
  const I = gt.imageIds.length;
  const A = AREA_RANGES.length;
  const T = IOU_THRESHOLDS.length;
  const maxDet = MAX_DETS[MAX_DETS.length - 1]!;

  // Groups are indexed densely by (category, image); beyond this the index arrays alone would not fit.
  if (K * I > 2 ** 30) throw new Error(`COCO evaluation: ${K} categories x ${I} images is more (category, image) pairs than supported (2^30)`);
  const gtKey = new Int32Array(gt.count);
  for (let i = 0; i < gt.count; i++) gtKey[i] = gt.category[i]! * I + gt.image[i]!;
  const dtKey = new Int32Array(dt.count);
  for (let i = 0; i < dt.count; i++) dtKey[i] = dt.category[i]! * I + dt.image[i]!;
  const gtGroups = groupByKey(gtKey, K * I);
  const dtGroups = groupByKey(dtKey, K * I);

  const keptAll = new Int32Array(dt.count);
  const rankAll = new Int32Array(dt.count);
  const outcomeAll = new Uint8Array(dt.count * A * T);
  const categoryStart = new Int32Array(K + 1);
  const gtCount = new Int32Array(K * A);

  const thresholds = Array.from(IOU_THRESHOLDS, (t) => Math.min(t, 1 - 1e-10));
  const gb = gt.boxes, db = dt.boxes;
  let ious = new Float64Array(1024);
  let dtArea = new Float64Array(maxDet);
  let gtOrder = new Int32Array(64);
  let gtIgnoreSorted = new Uint8Array(64);
  let gtCrowdSorted = new Uint8Array(64);
  let gtMatched = new Uint8Array(64);
  const cand: number[] = [];
  let nk = 0;

  for (let k = 0; k < K; k++) {
    categoryStart[k] = nk;
    for (let im = 0; im < I; im++) {
      const key = k * I + im;
      const gs = gtGroups.start[key]!, G = gtGroups.start[key + 1]! - gs;
      const ds = dtGroups.start[key]!, dn = dtGroups.start[key + 1]! - ds;
      if (G === 0 && dn === 0) continue;

      cand.length = dn;
      for (let j = 0; j < dn; j++) cand[j] = dtGroups.order[ds + j]!;
      sortByScore(cand, dt.scores);
      const D = Math.min(dn, maxDet);
      if (dtArea.length < D) dtArea = new Float64Array(D);
      for (let d = 0; d < D; d++) {
        const di = cand[d]!;
        keptAll[nk + d] = di;
        rankAll[nk + d] = d;
        dtArea[d] = db[4 * di + 2]! * db[4 * di + 3]!;
      }

      if (G > gtOrder.length) {
        gtOrder = new Int32Array(2 * G);
        gtIgnoreSorted = new Uint8Array(2 * G);
        gtCrowdSorted = new Uint8Array(2 * G);
        gtMatched = new Uint8Array(2 * G);
      }
      if (G > 0 && D > 0) {
        // IoU as the reference's bbIou computes it; a crowd region's "union" is the detection's own area.
        ious = grow(ious, D * G);
        for (let g = 0; g < G; g++) {
          const gi = gtGroups.order[gs + g]!;
          const gx = gb[4 * gi]!, gy = gb[4 * gi + 1]!, gw = gb[4 * gi + 2]!, gh = gb[4 * gi + 3]!;
          const ga = gw * gh;
          const crowd = gt.crowd[gi] === 1;
          for (let d = 0; d < D; d++) {
            const di = cand[d]!;
            const dx = db[4 * di]!, dy = db[4 * di + 1]!, dw = db[4 * di + 2]!, dh = db[4 * di + 3]!;
            let v = 0;
            const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
            if (w > 0) {
              const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
              if (h > 0) {
                const inter = w * h;
                const da = dw * dh;
                v = inter / (crowd ? da : da + ga - inter);
              }
            }
            ious[d * G + g] = v;
          }
        }
      }

      for (let a = 0; a < A; a++) {
        const { min, max } = AREA_RANGES[a]!;
        // Ground truth with ignored entries last, stably: the order the greedy matching walks.
        let nRegular = 0;
        let j = 0;
        for (let pass = 0; pass < 2; pass++) {
          for (let g = 0; g < G; g++) {
            const gi = gtGroups.order[gs + g]!;
            const ar = gt.areas[gi]!;
            const ignored = gt.crowd[gi] === 1 || ar < min || ar > max ? 1 : 0;
            if (ignored !== pass) continue;
            gtOrder[j] = g;
            gtIgnoreSorted[j] = ignored;
            gtCrowdSorted[j] = gt.crowd[gi]!;
            j++;
          }
          if (pass === 0) nRegular = j;
        }
        gtCount[k * A + a]! += nRegular;

        for (let t = 0; t < T; t++) {
          for (let j = 0; j < G; j++) gtMatched[j] = 0;
          const thr = thresholds[t]!;
          for (let d = 0; d < D; d++) {
            let best = thr;
            let m = -1;
            const row = d * G;
            for (let j = 0; j < G; j++) {
              if (gtMatched[j] === 1 && gtCrowdSorted[j] === 0) continue;
              // Once matched to a regular gt, the ignored ones (all after it) cannot take the detection.
              if (m > -1 && gtIgnoreSorted[m] === 0 && gtIgnoreSorted[j] === 1) break;
              const v = ious[row + gtOrder[j]!]!;
              if (v < best) continue;
              best = v;
              m = j;
            }
            let o: Outcome;
            if (m === -1) {
              const ar = dtArea[d]!;
              o = ar < min || ar > max ? Outcome.Ignored : Outcome.FalsePositive;
            } else {
              gtMatched[m] = 1;
              o = gtIgnoreSorted[m] === 1 ? Outcome.Ignored : Outcome.TruePositive;
            }
            outcomeAll[((nk + d) * A + a) * T + t] = o;
          }
        }
      }
      nk += D;
    }
  }
  categoryStart[K] = nk;
  return {
    numCategories: K,
    kept: keptAll.slice(0, nk),
    keptRank: rankAll.slice(0, nk),
    categoryStart,
    outcome: outcomeAll.slice(0, nk * A * T),
    gtCount,
  };
}

/**
 * Writes into out[0..n) the positions cs..cs+n-1 ordered by scores[kept[p]], highest first, ties in position
 * order (what a stable argsort of -score gives). A native sort of the distinct scores and a counting sort by
 * score rank: several times faster than a comparator sort, and stable by construction.
 */
function sortByScoreStable(kept: Int32Array, cs: number, n: number, scores: Float64Array, out: Int32Array): void {
  const distinct = new Float64Array(n);
  for (let i = 0; i < n; i++) distinct[i] = scores[kept[cs + i]!]!;
  distinct.sort();
  // -0 and 0 sort apart but compare equal, so they share one rank, as in the reference.
  let u = 0;
  for (let i = 0; i < n; i++) if (u === 0 || distinct[i] !== distinct[u - 1]) distinct[u++] = distinct[i]!;
  // Rank 0 = highest score.
  const rank = new Int32Array(n);
  const count = new Int32Array(u + 1);
  for (let i = 0; i < n; i++) {
    const v = scores[kept[cs + i]!]!;
    let lo = 0, hi = u - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (distinct[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    rank[i] = u - 1 - lo;
    count[rank[i]! + 1]!++;
  }
  for (let r = 0; r < u; r++) count[r + 1]! += count[r]!;
  for (let i = 0; i < n; i++) out[count[rank[i]!]!++] = cs + i;
}

/** Precision/recall curves per IoU threshold, category, area range and maxDets (pycocotools' accumulate()). */
export function accumulate(ev: ImageEvaluation, scores: Float64Array): Accumulation {
  const T = IOU_THRESHOLDS.length;
  const R = RECALL_THRESHOLDS.length;
  const K = ev.numCategories;
  const A = AREA_RANGES.length;
  const M = MAX_DETS.length;
  const AT = A * T;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const { kept, keptRank, outcome, gtCount } = ev;
  const positions = new Int32Array(kept.length);
  let rc = new Float64Array(1024);
  let pr = new Float64Array(1024);
  let sel = new Int32Array(1024);
  let fpBefore = new Int32Array(1025);
  let sortedRank = new Int32Array(1024);
  let sortedOutcome = new Uint8Array(1024 * AT);

  for (let k = 0; k < K; k++) {
    const cs = ev.categoryStart[k]!, n = ev.categoryStart[k + 1]! - cs;
    // One stable sort of the category's detections serves every maxDets: for maxDets m the reference
    // stably sorts the concatenation of each image's first m, which is this order with the rest left out.
    sortByScoreStable(kept, cs, n, scores, positions);
    if (sel.length < n) {
      sel = new Int32Array(n);
      fpBefore = new Int32Array(n + 1);
      rc = new Float64Array(n);
      pr = new Float64Array(n);
      sortedRank = new Int32Array(n);
      sortedOutcome = new Uint8Array(n * AT);
    }
    // Outcomes in score order, one row per (area, threshold), so the running counts below read in sequence.
    for (let i = 0; i < n; i++) {
      const p = positions[i]!;
      sortedRank[i] = keptRank[p]!;
      const base = p * AT;
      for (let at = 0; at < AT; at++) sortedOutcome[at * n + i] = outcome[base + at]!;
    }

    for (let m = 0; m < M; m++) {
      const maxDet = MAX_DETS[m]!;
      let nd = 0;
      for (let i = 0; i < n; i++) if (sortedRank[i]! < maxDet) sel[nd++] = i;
      for (let a = 0; a < A; a++) {
        const npig = gtCount[k * A + a]!;
        if (npig === 0) continue;
        for (let t = 0; t < T; t++) {
          const row = (a * T + t) * n;
          // The reference builds recall and precision at every detection, makes precision non-increasing
          // from the right and looks up the first detection reaching each recall point. Recall and
          // precision only rise at a true positive, so every lookup lands on a true positive or on the
          // first detection: the values at true positives alone give the same numbers, bit for bit.
          // The count is branch-free (outcomes are random, branches would mispredict); fpBefore[e] ends
          // up as the number of false positives ranked above the e-th true positive.
          let tp = 0, fp = 0;
          for (let i = 0; i < nd; i++) {
            const o = sortedOutcome[row + sel[i]!]!;
            fpBefore[tp] = fp;
            tp += +(o === Outcome.TruePositive);
            fp += +(o === Outcome.FalsePositive);
          }
          for (let e = 0; e < tp; e++) {
            rc[e] = (e + 1) / npig;
            pr[e] = (e + 1) / (fpBefore[e]! + (e + 1) + Number.EPSILON);
          }
          recall[((t * K + k) * A + a) * M + m] = nd > 0 ? tp / npig : 0;
          for (let e = tp - 1; e > 0; e--) if (pr[e]! > pr[e - 1]!) pr[e - 1] = pr[e]!;
          // The first detection has recall 0 unless it is a true positive; it answers recall point 0.
          const firstIsTp = nd > 0 && sortedOutcome[row + sel[0]!] === Outcome.TruePositive;
          let e = 0;
          for (let r = 0; r < R; r++) {
            const thr = RECALL_THRESHOLDS[r]!;
            let q: number;
            if (nd > 0 && !firstIsTp && thr <= 0) {
              q = tp > 0 ? pr[0]! : 0;
            } else {
              while (e < tp && rc[e]! < thr) e++;
              q = e < tp ? pr[e]! : 0;
            }
            precision[(((t * R + r) * K + k) * A + a) * M + m] = q;
          }
        }
      }
    }
  }
  return { precision, recall, shape: { T, R, K, A, M } };
}

/** Mean over the entries > -1 of precision (ap) or recall, with the reference's selection of axes. */
function summarizeOne(acc: Accumulation, ap: boolean, iouThr: number | null, area: string, maxDets: number): number {
  const { T, R, K, A, M } = acc.shape;
  const ts = iouThr === null ? [...Array(T).keys()] : [...Array(T).keys()].filter((t) => IOU_THRESHOLDS[t] === iouThr);
  const a = AREA_RANGES.findIndex((r) => r.label === area);
  const m = MAX_DETS.indexOf(maxDets);
  if (a < 0 || m < 0) return -1;
  // Row-major order (t, r, k): the order numpy flattens the selection in, which fixes the summation order.
  const vals = new Float64Array(ts.length * (ap ? R : 1) * K);
  let n = 0;
  for (const t of ts) {
    if (ap) {
      for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) vals[n++] = acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!;
    } else {
      for (let k = 0; k < K; k++) vals[n++] = acc.recall[((t * K + k) * A + a) * M + m]!;
    }
  }
  return meanOfPresent(vals, n);
}

/** The 12 COCO detection numbers, in the reference's order (STAT_NAMES). */
export function summarize(acc: Accumulation): number[] {
  const [m1, m10, m100] = MAX_DETS as [number, number, number];
  return [
    summarizeOne(acc, true, null, 'all', m100),
    summarizeOne(acc, true, 0.5, 'all', m100),
    summarizeOne(acc, true, 0.75, 'all', m100),
    summarizeOne(acc, true, null, 'small', m100),
    summarizeOne(acc, true, null, 'medium', m100),
    summarizeOne(acc, true, null, 'large', m100),
    summarizeOne(acc, false, null, 'all', m1),
    summarizeOne(acc, false, null, 'all', m10),
    summarizeOne(acc, false, null, 'all', m100),
    summarizeOne(acc, false, null, 'small', m100),
    summarizeOne(acc, false, null, 'medium', m100),
    summarizeOne(acc, false, null, 'large', m100),
  ];
}

/** AP@[.50:.95] (area all, 100 detections) of each category, in ascending id order. */
export function perCategoryAp(gt: CocoGroundTruth, acc: Accumulation): CategoryAp[] {
  const { T, R, K, A, M } = acc.shape;
  const m = MAX_DETS.length - 1;
  const vals = new Float64Array(T * R);
  return gt.categoryIds.map((id, k) => {
    let n = 0;
    for (let t = 0; t < T; t++) for (let r = 0; r < R; r++) vals[n++] = acc.precision[(((t * R + r) * K + k) * A + 0) * M + m]!;
    return { id, name: gt.categoryNames[k]!, ap: meanOfPresent(vals, n) };
  });
}

/** The whole evaluation on validated inputs. */
export function evaluateCoco(gt: CocoGroundTruth, dt: CocoDetections): CocoEvalResult {
  const accumulation = accumulate(evaluateImages(gt, dt), dt.scores);
  return { stats: summarize(accumulation), perCategory: perCategoryAp(gt, accumulation), accumulation };
}

/** The whole evaluation on in-memory COCO objects (an instances object and a results list), validated first. */
export function evaluateCocoJson(gtJson: unknown, dtJson: unknown): CocoEvalResult {
  const gt = parseGroundTruth(gtJson, 'gt');
  return evaluateCoco(gt, parseDetections(dtJson, gt, 'dt'));
}
