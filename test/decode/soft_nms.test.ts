// mmcv's CPU soft-NMS as exposed by softNms(): rescoring, selection order and
// discarding, hand-computed.
import * as assert from 'assert';

import { softNms } from '../../lib/decode';

describe('softNms (mmcv CPU kernel semantics)', () => {
  const t = (v: number[], shape: number[]) => ({ data: Float32Array.from(v), shape });
  const A = [0, 0, 10, 10];
  const B = [0, 0, 10, 5]; // IoU with A: 50 / 100 = 0.5
  const C = [20, 20, 30, 30];
  const boxes = t([...A, ...B, ...C], [3, 4]);
  const scores = t([0.9, 0.8, 0.7], [3]);
  const close = (got: Float32Array, want: number[]) => {
    assert.strictEqual(got.length, want.length);
    want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) < 1e-6, `score ${i}: ${got[i]} vs ${w}`));
  };

  it('gaussian: exp(-iou^2 / sigma), reselecting the best after each rescoring', () => {
    const r = softNms({ boxes, scores });
    assert.deepStrictEqual(Array.from(r.keep), [0, 2, 1]);
    close(r.scores, [0.9, 0.7, 0.8 * Math.exp(-0.25 / 0.5)]);
  });

  it('linear and naive use the IoU threshold (>=)', () => {
    const lin = softNms({ boxes, scores, softNmsMethod: 'linear', iouThreshold: 0.3 });
    assert.deepStrictEqual(Array.from(lin.keep), [0, 2, 1]);
    close(lin.scores, [0.9, 0.7, 0.4]);
    const linHigh = softNms({ boxes, scores, softNmsMethod: 'linear', iouThreshold: 0.6 });
    assert.deepStrictEqual(Array.from(linHigh.keep), [0, 1, 2]);
    const naive = softNms({ boxes, scores, softNmsMethod: 'naive', iouThreshold: 0.5 });
    assert.deepStrictEqual(Array.from(naive.keep), [0, 2]);
  });

  it('iouOffset 1 counts boxes one pixel wider and taller', () => {
    const r = softNms({ boxes, scores, iouOffset: 1 });
    const iou = (11 * 6) / (121 + 66 - 66);
    close(r.scores, [0.9, 0.7, 0.8 * Math.exp(-(iou * iou) / 0.5)]);
  });

  it('drops boxes rescored below minScore by swapping in the last box (which changes the order of equal scores)', () => {
    const D = [40, 40, 50, 50];
    const r = softNms({ boxes: t([...A, ...B, ...C, ...D], [4, 4]), scores: t([0.9, 0.0015, 0.5, 0.5], [4]) });
    // B falls to 0.0015 * e^-0.5 < 1e-3 and D takes its slot, so D is found first among the two 0.5s.
    assert.deepStrictEqual(Array.from(r.keep), [0, 3, 2]);
    close(r.scores, [0.9, 0.5, 0.5]);
    const lenient = softNms({ boxes: t([...A, ...B, ...C, ...D], [4, 4]), scores: t([0.9, 0.0015, 0.5, 0.5], [4]), minScore: 1e-4 });
    assert.deepStrictEqual(Array.from(lenient.keep), [0, 2, 3, 1]);
  });

  it('labels make it class-aware', () => {
    const r = softNms({ boxes, scores, labels: Int32Array.from([0, 1, 0]) });
    assert.deepStrictEqual(Array.from(r.keep), [0, 1, 2]);
    close(r.scores, [0.9, 0.8, 0.7]);
  });

  it('bad inputs name the argument', () => {
    assert.throws(() => softNms({ boxes: t([0, 0, 1], [1, 3]), scores: t([1], [1]) }), /argument 'boxes'/);
    assert.throws(() => softNms({ boxes, scores: t([1], [1]) }), /argument 'scores'/);
    assert.throws(() => softNms({ boxes, scores, labels: Int32Array.from([0]) }), /argument 'labels'/);
    assert.throws(() => softNms({ boxes, scores, softNmsMethod: 'hard' as 'naive' }), /argument 'softNmsMethod'/);
  });
});
