// The original CornerNet's soft-NMS with box merging and the multi-scale test
// built on it, hand-computed.
import * as assert from 'assert';

import { decodeMultiScale, softNms, softNmsMerge, type ImageMeta } from '../../lib/decode';
import { assertMatches, HandHeads, META64, sigmoid } from './hand_heads';

describe('softNmsMerge and the multi-scale test (original CornerNet)', () => {
  const t = (v: number[], shape: number[]) => ({ data: Float32Array.from(v), shape });
  // IoU with +1 pixel sizes, the original's convention.
  const iou1 = (a: number[], b: number[]) => {
    const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]) + 1;
    const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]) + 1;
    const area = (x: number[]) => (x[2] - x[0] + 1) * (x[3] - x[1] + 1);
    return (iw * ih) / (area(a) + area(b) - iw * ih);
  };
  // The kept box after merging one suppressed box into it.
  const merged = (a: number[], ac: number[], b: number[], bc: number[], mw: number) => [
    (a[0] * ac[0] + b[0] * bc[0] * mw) / (ac[0] + bc[0] * mw),
    (a[1] * ac[0] + b[1] * bc[0] * mw) / (ac[0] + bc[0] * mw),
    (a[2] * ac[1] + b[2] * bc[1] * mw) / (ac[1] + bc[1] * mw),
    (a[3] * ac[1] + b[3] * bc[1] * mw) / (ac[1] + bc[1] * mw),
  ];
  const A = [0, 0, 10, 10];
  const B = [2, 0, 12, 10];
  const C = [50, 50, 60, 60];

  it('pulls the kept box towards the boxes it suppresses, weighted by corner scores and (1 - w)^weightExp', () => {
    const w = Math.exp(-(iou1(A, B) ** 2) / 0.5);
    for (const weightExp of [10, 0]) {
      const r = softNmsMerge({
        boxes: t([...A, ...B], [2, 4]),
        scores: t([0.9, 0.5], [2]),
        cornerScores: t([0.8, 0.6, 0.4, 0.2], [2, 2]),
        weightExp,
      });
      assert.deepStrictEqual(Array.from(r.keep), [0, 1]);
      assertMatches(
        r,
        { boxes: [merged(A, [0.8, 0.6], B, [0.4, 0.2], (1 - w) ** weightExp), B], scores: [0.9, 0.5 * w], labels: [0, 0] },
        `weightExp ${weightExp}`,
        1e-5,
        1e-6
      );
    }
  });

  it('leaves other classes and non-overlapping boxes alone, even below minScore (unlike mmcv)', () => {
    const args = {
      boxes: t([...A, ...B, ...C], [3, 4]),
      scores: t([0.9, 0.5, 0.0005], [3]),
      cornerScores: t([0.8, 0.6, 0.4, 0.2, 0.1, 0.1], [3, 2]),
    };
    const r = softNmsMerge({ ...args, labels: Int32Array.from([0, 1, 0]) });
    assertMatches(r, { boxes: [A, B, C], scores: [0.9, 0.5, 0.0005], labels: [0, 1, 0] }, 'classes', 1e-6, 1e-7);
    assert.deepStrictEqual(Array.from(softNms(args).keep), [0, 1]);
  });

  it('checks its arguments', () => {
    assert.throws(
      () => softNmsMerge({ boxes: t(A, [1, 4]), scores: t([1], [1]), cornerScores: t([1], [1, 1]) }),
      /argument 'cornerScores' must have shape \[1, 2\]/
    );
    assert.throws(() => softNmsMerge({ boxes: t(A, [1, 4]), scores: t([1], [1]), cornerScores: t([1, 1], [1, 2]), weightExp: -1 }), /argument 'weightExp'/);
  });

  it('decodeMultiScale merges the detections of several scales in original-image pixels', () => {
    // Scale 1: box [8,8,40,40] from a 16x16 map of a 64x64 input.
    const s1 = new HandHeads(1, 16, 16).corner('tl', 0, 2, 2, 2).corner('br', 0, 10, 10, 2).outputs();
    // Scale 2 (128x128 input, 32x32 map): box [20,16,84,80] there, [10,8,42,40] in the image.
    const s2 = new HandHeads(1, 32, 32).corner('tl', 0, 4, 5, 1).corner('br', 0, 20, 21, 1).outputs();
    const meta2: ImageMeta = { padShape: [128, 128], imgShape: [128, 128], border: [0, 128, 0, 128], scaleFactor: 2 };
    const r = decodeMultiScale(
      [
        { heads: s1, meta: META64 },
        { heads: s2, meta: meta2 },
      ],
      { k: 1, returnPreNms: true }
    );
    const a = [8, 8, 40, 40];
    const b = [10, 8, 42, 40];
    assertMatches(r.preNms!, { boxes: [a, b], scores: [sigmoid(2), sigmoid(1)], labels: [0, 0] }, 'candidates', 1e-5, 1e-6);
    const w = Math.exp(-(iou1(a, b) ** 2) / 0.5);
    const mw = (1 - w) ** 10;
    assertMatches(
      r,
      { boxes: [merged(a, [sigmoid(2), sigmoid(2)], b, [sigmoid(1), sigmoid(1)], mw), b], scores: [sigmoid(2), sigmoid(1) * w], labels: [0, 0] },
      'merged',
      1e-4,
      1e-6
    );
    [sigmoid(2), sigmoid(2), sigmoid(1), sigmoid(1)].forEach((v, i) => assert.ok(Math.abs(r.cornerScores[i] - v) < 1e-6, `corner score ${i}`));
    assert.strictEqual(decodeMultiScale([{ heads: s1, meta: META64 }], { k: 1, maxPerImg: 1 }).scores.length, 1);
    assert.throws(() => decodeMultiScale([]), /views must hold at least one view/);
  });
});
