// CornerNet decoding: parity with the reference's decode fixtures, hand-built
// head outputs with known answers, agreement with a plain restatement, coordinate
// mapping round trips, and argument errors.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { centerPadMeta, decode, decodeAsync, flipped, type CornerHeadOutputs, type DecodeArgs, type ImageMeta } from '../../lib/decode';
import { readNpy } from '../helpers/npy';
import { assertMatches, HandHeads, META64, only, sigmoid, type RefDetections } from './hand_heads';

const FIXTURES =
  process.env.CORNERNET_PARITY_FIXTURES ?? path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'model-parity');

describe('decode: reference parity (model-parity fixtures)', () => {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'decode.json'), 'utf8')) as {
    img_meta: { pad_shape: number[]; img_shape: number[]; border: number[] };
    test_cfg: { corner_topk: number; local_maximum_kernel: number; distance_threshold: number; max_per_img: number };
    num_dets: number;
    pre_nms: RefDetections;
    post_nms: RefDetections;
    flip_tta: RefDetections;
  };
  const heads = (prefix: string): CornerHeadOutputs => {
    const read = (name: string) => readNpy(path.join(FIXTURES, `decode_${prefix}${name}_l1.npy`));
    return {
      tlHeat: read('tl_heat'),
      brHeat: read('br_heat'),
      tlEmb: read('tl_emb'),
      brEmb: read('br_emb'),
      tlOff: read('tl_off'),
      brOff: read('br_off'),
    };
  };
  const m = ref.img_meta;
  const args: DecodeArgs = {
    ...heads(''),
    meta: { padShape: m.pad_shape, imgShape: m.img_shape, border: m.border as [number, number, number, number] },
    k: ref.test_cfg.corner_topk,
    kernel: ref.test_cfg.local_maximum_kernel,
    distanceThreshold: ref.test_cfg.distance_threshold,
    numDets: ref.num_dets,
    maxPerImg: ref.test_cfg.max_per_img,
    returnPreNms: true,
  };

  it('pre-NMS pairs: order, labels, boxes and scores', () => {
    const r = only(decode(args));
    assert.ok(r.preNms);
    assertMatches(r.preNms, ref.pre_nms, 'pre_nms');
  });

  it('nms: false returns the pre-NMS list as the detections', () => {
    assertMatches(only(decode({ ...args, nms: false })), ref.pre_nms, 'nms off');
  });

  it('after class-aware Gaussian soft-NMS and top 100', () => {
    assertMatches(only(decode(args)), ref.post_nms, 'post_nms');
  });

  it('flip test: both views decoded, mirrored boxes mapped back, one soft-NMS', () => {
    const r = only(decode({ ...args, ...flipped(heads('flip_')) }));
    assertMatches(r, ref.flip_tta, 'flip_tta');
    // Both views' candidates, the original's first.
    assert.ok(r.preNms && r.preNms.scores.length > ref.pre_nms.scores.length);
    assertMatches(
      { boxes: r.preNms.boxes.subarray(0, 4 * ref.pre_nms.scores.length), scores: r.preNms.scores.subarray(0, ref.pre_nms.scores.length), labels: r.preNms.labels.subarray(0, ref.pre_nms.scores.length) },
      ref.pre_nms,
      'flip pre_nms (original view)'
    );
  });

  it('decodeAsync gives what decode gives', async () => {
    const a = { ...args, ...flipped(heads('flip_')) };
    const [sync] = decode(a);
    const [asy] = await decodeAsync(a);
    assert.deepStrictEqual(asy.boxes, sync.boxes);
    assert.deepStrictEqual(asy.scores, sync.scores);
    assert.deepStrictEqual(asy.labels, sync.labels);
  });

  it('a batch of two images decodes each with its own meta', () => {
    const h = heads('');
    const two = (t: { data: Float32Array; shape: number[] }) => {
      const data = new Float32Array(2 * t.data.length);
      data.set(t.data);
      data.set(t.data, t.data.length);
      return { data, shape: [2, ...t.shape.slice(1)] };
    };
    const meta = args.meta as ImageMeta;
    const shifted: ImageMeta = { ...meta, border: [meta.border[0] - 4, meta.border[1] - 4, meta.border[2] - 4, meta.border[3] - 4] };
    const r = decode({
      ...args,
      tlHeat: two(h.tlHeat),
      brHeat: two(h.brHeat),
      tlEmb: two(h.tlEmb),
      brEmb: two(h.brEmb),
      tlOff: two(h.tlOff),
      brOff: two(h.brOff),
      meta: [meta, shifted],
    });
    assert.strictEqual(r.length, 2);
    assertMatches(r[0], ref.post_nms, 'image 0');
    // A border 4 px smaller moves every corner 4 px right/down; corners clamped at 0 in image 0 are skipped.
    assert.ok(r[1].preNms);
    const pre0 = r[0].preNms!;
    assert.strictEqual(r[1].preNms.scores.length, pre0.scores.length);
    let moved = 0;
    for (let i = 0; i < pre0.boxes.length; ++i) if (pre0.boxes[i] > 0) moved = Math.max(moved, Math.abs(r[1].preNms.boxes[i] - pre0.boxes[i] - 4));
    assert.ok(moved < 1e-4, `shift mismatch ${moved}`);
  });
});

describe('decode: hand-built head outputs', () => {
  it('two objects of different classes, corners placed through offsets, border and clamping', () => {
    const meta: ImageMeta = { padShape: [64, 64], imgShape: [60, 50], border: [2, 62, 7, 57] };
    const h = new HandHeads(3, 16, 16)
      .corner('tl', 0, 2, 3, 2.0, 1.0, 0.25, 0.5)
      .corner('br', 0, 8, 10, 1.0, 1.0, 0.5, 0.75)
      .corner('tl', 2, 5, 1, 0.5, -1.0)
      .corner('br', 2, 12, 6, 0.0, -1.0);
    const r = only(decode({ ...h.outputs(), meta, k: 2, returnPreNms: true }));
    const want: RefDetections = {
      // x = (cell + offset) * 64/16 - left, y likewise with top; the second TL lands at x = -3, clamped to 0.
      boxes: [
        [6, 8, 35, 33],
        [0, 18, 17, 46],
      ],
      scores: [(sigmoid(2) + sigmoid(1)) / 2, (sigmoid(0.5) + sigmoid(0)) / 2],
      labels: [0, 2],
    };
    assertMatches(r.preNms!, want, 'pre-NMS', 1e-5, 1e-6);
    assertMatches(r, want, 'post-NMS', 1e-5, 1e-6);
  });

  it('rejects a pair whose embeddings differ by more than the threshold (and keeps one exactly at it)', () => {
    const pair = (embBr: number) => new HandHeads(1, 16, 16).corner('tl', 0, 2, 2, 1, 0).corner('br', 0, 10, 10, 1, embBr).outputs();
    assert.strictEqual(only(decode({ ...pair(0.5), meta: META64, k: 1 })).scores.length, 1);
    assert.strictEqual(only(decode({ ...pair(0.625), meta: META64, k: 1 })).scores.length, 0);
    assert.strictEqual(only(decode({ ...pair(0.625), meta: META64, k: 1, distanceThreshold: 1 })).scores.length, 1);
  });

  it('rejects inverted and zero-width boxes', () => {
    const inverted = new HandHeads(1, 16, 16).corner('tl', 0, 10, 10, 1).corner('br', 0, 2, 2, 1).outputs();
    assert.strictEqual(only(decode({ ...inverted, meta: META64, k: 1 })).scores.length, 0);
    const flat = new HandHeads(1, 16, 16).corner('tl', 0, 2, 6, 1).corner('br', 0, 10, 6, 1).outputs();
    assert.strictEqual(only(decode({ ...flat, meta: META64, k: 1 })).scores.length, 0);
    const ok = new HandHeads(1, 16, 16).corner('tl', 0, 2, 6, 1).corner('br', 0, 10, 6, 1, 0, 0.25).outputs();
    assert.strictEqual(only(decode({ ...ok, meta: META64, k: 1 })).scores.length, 1);
  });

  it('rejects pairs of different classes', () => {
    const h = new HandHeads(2, 16, 16).corner('tl', 0, 2, 2, 1).corner('br', 1, 10, 10, 1).outputs();
    assert.strictEqual(only(decode({ ...h, meta: META64, k: 1 })).scores.length, 0);
  });

  it('overlapping objects of one class: the weaker is rescored by exp(-iou^2 / sigma)', () => {
    // A: [8,8,40,40], B: [16,8,48,40]; IoU = 768 / 1280 = 0.6. Cross pairs differ in embedding by 5.
    const h = new HandHeads(1, 16, 16)
      .corner('tl', 0, 2, 2, 3, 0)
      .corner('br', 0, 10, 10, 3, 0)
      .corner('tl', 0, 2, 4, 1, 5)
      .corner('br', 0, 10, 12, 1, 5)
      .outputs();
    const r = only(decode({ ...h, meta: META64, k: 2, returnPreNms: true }));
    assert.strictEqual(r.preNms!.scores.length, 2);
    assertMatches(
      r,
      { boxes: [[8, 8, 40, 40], [16, 8, 48, 40]], scores: [sigmoid(3), sigmoid(1) * Math.exp(-(0.6 * 0.6) / 0.5)], labels: [0, 0] },
      'soft-NMS',
      1e-5,
      1e-6
    );
    const sigma2 = only(decode({ ...h, meta: META64, k: 2, sigma: 2 }));
    assert.ok(Math.abs(sigma2.scores[1] - sigmoid(1) * Math.exp(-0.36 / 2)) < 1e-6);
    // Of different classes they leave each other alone.
    const h2 = new HandHeads(2, 16, 16)
      .corner('tl', 0, 2, 2, 3, 0)
      .corner('br', 0, 10, 10, 3, 0)
      .corner('tl', 1, 2, 4, 1, 5)
      .corner('br', 1, 10, 12, 1, 5)
      .outputs();
    assertMatches(
      only(decode({ ...h2, meta: META64, k: 2 })),
      { boxes: [[8, 8, 40, 40], [16, 8, 48, 40]], scores: [sigmoid(3), sigmoid(1)], labels: [0, 1] },
      'two classes',
      1e-5,
      1e-6
    );
  });

  it('maxPerImg keeps the best n; clip keeps boxes inside the image', () => {
    const h = new HandHeads(2, 16, 16)
      .corner('tl', 0, 2, 2, 3, 0)
      .corner('br', 0, 15, 15, 3, 0, 0.9, 0.9)
      .corner('tl', 1, 2, 4, 1, 5)
      .corner('br', 1, 10, 12, 1, 5)
      .outputs();
    const meta: ImageMeta = { padShape: [64, 64], imgShape: [50, 50], border: [7, 57, 7, 57] };
    const all = only(decode({ ...h, meta, k: 2 }));
    assert.strictEqual(all.scores.length, 2);
    assert.ok(all.boxes[2] > 50, 'the reference does not clip at the image size');
    const one = only(decode({ ...h, meta, k: 2, maxPerImg: 1 }));
    assert.deepStrictEqual(Array.from(one.labels), [0]);
    const clipped = only(decode({ ...h, meta, k: 2, clip: true }));
    assert.deepStrictEqual(Array.from(clipped.boxes.subarray(0, 4)), [1, 1, 50, 50]);
  });

  it('flip test: a mirrored view mapped back with the unpadded width and merged before soft-NMS', () => {
    // Image 58 wide centred in a 64-wide canvas (left 3, right 3).
    const meta: ImageMeta = { padShape: [64, 64], imgShape: [60, 58], border: [2, 62, 3, 61] };
    const view = new HandHeads(2, 16, 16).corner('tl', 1, 2, 2, 2).corner('br', 1, 10, 10, 2).outputs();
    // The padded input's x in [8, 40] becomes [24, 56] in the mirror: cells 6 and 14.
    const mirror = new HandHeads(2, 16, 16).corner('tl', 1, 2, 6, 1).corner('br', 1, 10, 14, 1).outputs();
    const r = only(decode({ ...view, ...flipped(mirror), meta, k: 1, returnPreNms: true }));
    const box = [5, 6, 37, 38];
    assertMatches(r.preNms!, { boxes: [box, box], scores: [sigmoid(2), sigmoid(1)], labels: [1, 1] }, 'pre-NMS', 1e-5, 1e-6);
    // Identical boxes: IoU 1, weight exp(-1 / 0.5).
    assertMatches(r, { boxes: [box, box], scores: [sigmoid(2), sigmoid(1) * Math.exp(-2)], labels: [1, 1] }, 'merged', 1e-5, 1e-6);
  });

  for (const [background, side] of [
    [-200, 8],
    [-Infinity, 32],
  ])
    it(`with fewer surviving corners than k, zero-score cells fill the picks in index order (logits ${background}, ${side}x${side})`, () => {
      // sigmoid(-200) and sigmoid(-inf) are 0 in float32: nothing survives, so the k picks are cells 0..k-1 (class 0),
      // the first row and part of the second.
      // torch.topk leaves the order of equal values unspecified; lower index first is this decoder's rule.
      const h = new HandHeads(2, side, side, background).outputs();
      const meta: ImageMeta = { padShape: [4 * side, 4 * side], imgShape: [4 * side, 4 * side], border: [0, 4 * side, 0, 4 * side] };
      const r = only(decode({ ...h, meta, k: side + 12, returnPreNms: true }));
      // First valid pair: TL at cell (0,0), BR at cell (1,1); every other pair also scores 0
      // and is dropped by soft-NMS (0 < minScore after rescoring; the first pick is never tested).
      assertMatches(r, { boxes: [[0, 0, 4, 4]], scores: [0], labels: [0] }, 'zero fill', 1e-6, 0);
      assert.ok(r.preNms!.scores.every((v) => v === 0));
    });

  it('kernel 1 keeps neighbouring peaks that kernel 3 suppresses', () => {
    // Two TL candidates side by side: with a 3x3 window only the stronger survives.
    const h = new HandHeads(1, 16, 16, -30).corner('tl', 0, 2, 2, 2).corner('tl', 0, 2, 3, 1.5).corner('br', 0, 10, 10, 2).outputs();
    const k3 = only(decode({ ...h, meta: META64, k: 2, nms: false }));
    const k1 = only(decode({ ...h, meta: META64, k: 2, kernel: 1, nms: false }));
    // k3: (2,3) is suppressed, so the second TL pick is the first background cell (0,0), paired with the BR.
    assertMatches(
      k3,
      { boxes: [[8, 8, 40, 40], [0, 0, 40, 40]], scores: [sigmoid(2), (sigmoid(-30) + sigmoid(2)) / 2], labels: [0, 0] },
      'kernel 3',
      1e-5,
      1e-6
    );
    assert.strictEqual(k1.scores.length, 2);
    assert.ok(Math.abs(k1.scores[1] - (sigmoid(1.5) + sigmoid(2)) / 2) < 1e-6);
  });
});

// The decoding steps before NMS restated plainly (every position): the engine ranks only the largest logits when it can prove that
// suffices, and must agree with this on any map.
function referencePairs(h: CornerHeadOutputs, meta: ImageMeta, k: number, kernel: number, threshold: number) {
  // Float32 arithmetic, as the engine and the reference compute it: near 1 many
  // distinct logits share one float probability, and such ties survive together.
  const f = Math.fround;
  const sigmoid32 = (x: number) => f(1 / f(1 + f(Math.exp(-x))));
  const [, C, H, W] = h.tlHeat.shape;
  const hw = H * W;
  const pad = (kernel - 1) >> 1;
  const corners = (heat: Float32Array) => {
    const s = Array.from(heat, sigmoid32);
    const kept: { score: number; index: number }[] = [];
    for (let c = 0; c < C; ++c)
      for (let y = 0; y < H; ++y)
        for (let x = 0; x < W; ++x) {
          const i = c * hw + y * W + x;
          let m = -Infinity;
          for (let yy = Math.max(0, y - pad); yy <= Math.min(H - 1, y + pad); ++yy)
            for (let xx = Math.max(0, x - pad); xx <= Math.min(W - 1, x + pad); ++xx) m = Math.max(m, s[c * hw + yy * W + xx]);
          kept.push({ score: m === s[i] ? s[i] : 0, index: i });
        }
    kept.sort((a, b) => b.score - a.score || a.index - b.index);
    return kept.slice(0, k);
  };
  const place = (cs: { score: number; index: number }[], emb: Float32Array, off: Float32Array) =>
    cs.map(({ score, index }) => {
      const cell = index % hw;
      const x = ((cell % W) + off[cell]) * (meta.padShape[1] / W) - meta.border[2];
      const y = (Math.floor(cell / W) + off[hw + cell]) * (meta.padShape[0] / H) - meta.border[0];
      return { x: Math.max(0, x), y: Math.max(0, y), score, emb: emb[cell], cls: Math.floor(index / hw) };
    });
  const tl = place(corners(h.tlHeat.data), h.tlEmb.data, h.tlOff.data);
  const br = place(corners(h.brHeat.data), h.brEmb.data, h.brOff.data);
  const pairs: { box: number[]; score: number; label: number }[] = [];
  for (const a of tl)
    for (const b of br)
      if (a.cls === b.cls && Math.abs(a.emb - b.emb) <= threshold && b.x > a.x && b.y > a.y)
        pairs.push({ box: [a.x, a.y, b.x, b.y], score: (a.score + b.score) / 2, label: a.cls });
  return pairs;
}

describe('decode: agreement with a plain restatement on random maps', () => {
  const rand = (seed: number) => {
    let s = seed >>> 0;
    return () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 4294967296;
    };
  };
  const C = 4;
  const H = 96;
  const W = 128;
  // Each case makes a logit generator (called in NCHW order) from a random source.
  const cases: [string, (r: () => number) => (c: number, y: number, x: number) => number][] = [
    ['continuous logits', (r) => () => -4 + 6 * r()],
    // Integer logits: plateaus and equal scores everywhere, so ties decide the picks.
    ['integer logits (ties)', (r) => () => Math.floor(-5 + 5 * r())],
    // Gaussian blobs as a trained network draws them: many high logits around each peak
    // (the engine's shortcut has to widen its candidate set), saturated probabilities near 1.
    [
      'gaussian blobs',
      (r) => {
        const blobs = Array.from({ length: 160 }, () => ({ c: Math.floor(r() * C), y: r() * H, x: r() * W, s: 2 + 3 * r(), a: 4 + 8 * r() }));
        return (c, y, x) =>
          blobs.reduce((v, b) => (b.c === c ? v + b.a * Math.exp(-((y - b.y) ** 2 + (x - b.x) ** 2) / (2 * b.s * b.s)) : v), -9 + 0.01 * r());
      },
    ],
    // Few peaks on a flat background: the k-th pick ties with logits left out, so
    // the engine cannot take its shortcut and ranks every position.
    ['sparse peaks on a flat background', (r) => () => (r() < 0.0005 ? 1 : -1)],
  ];
  for (const [name, makeLogit] of cases)
    it(name, () => {
      const r = rand(name.length);
      const map = (c: number, f: (c: number, y: number, x: number) => number) => {
        const data = new Float32Array(c * H * W);
        for (let i = 0; i < data.length; ++i) data[i] = f(Math.floor(i / (H * W)), Math.floor(i / W) % H, i % W);
        return { data, shape: [1, c, H, W] };
      };
      const heads: CornerHeadOutputs = {
        tlHeat: map(C, makeLogit(r)),
        brHeat: map(C, makeLogit(r)),
        tlEmb: map(1, () => r() * 2),
        brEmb: map(1, () => r() * 2),
        tlOff: map(2, () => r()),
        brOff: map(2, () => r()),
      };
      const meta: ImageMeta = { padShape: [4 * H, 4 * W], imgShape: [4 * H - 10, 4 * W - 6], border: [5, 4 * H - 5, 3, 4 * W - 3] };
      const got = only(decode({ ...heads, meta, k: 50, numDets: 2500, nms: false, distanceThreshold: 1 }));
      const want = referencePairs(heads, meta, 50, 3, 1);
      assert.ok(want.length > 50, `too few pairs to be a test (${want.length})`);
      assert.strictEqual(got.scores.length, want.length);
      const used = new Array<boolean>(want.length).fill(false);
      for (let i = 0; i < got.scores.length; ++i) {
        const j = want.findIndex(
          (w, n) =>
            !used[n] &&
            w.label === got.labels[i] &&
            Math.abs(w.score - got.scores[i]) < 1e-6 &&
            w.box.every((v, c) => Math.abs(v - got.boxes[4 * i + c]) < 1e-3)
        );
        assert.ok(j >= 0, `detection ${i} (label ${got.labels[i]}, score ${got.scores[i]}) has no counterpart`);
        used[j] = true;
        if (i > 0) assert.ok(got.scores[i] <= got.scores[i - 1], 'descending scores');
      }
    });
});

describe('decode: coordinate mapping', () => {
  it('centerPadMeta follows the reference test-time padding (logical_or 127)', () => {
    assert.deepStrictEqual(centerPadMeta(480, 640), { padShape: [511, 767], imgShape: [480, 640], border: [15, 495, 63, 703] });
    assert.deepStrictEqual(centerPadMeta(100, 90), { padShape: [127, 127], imgShape: [100, 90], border: [13, 113, 18, 108] });
    // A side already equal to the canvas loses its last line, as in the reference.
    assert.deepStrictEqual(centerPadMeta(127, 128), { padShape: [127, 255], imgShape: [127, 128], border: [0, 126, 63, 191] });
    assert.throws(() => centerPadMeta(0, 5), /h must be a positive integer/);
  });

  for (const [h, w, scale] of [
    [100, 90, 1],
    [480, 640, 1],
    [333, 517, 2],
  ] as const) {
    it(`round trip image -> feature cells + offsets -> decoded box (${h}x${w}, scale ${scale})`, () => {
      const meta = { ...centerPadMeta(h, w), scaleFactor: scale };
      const [ph, pw] = meta.padShape;
      const fh = (ph + 1) / 4;
      const fw = (pw + 1) / 4;
      const box = [0.1 * w, 0.2 * h, 0.85 * w, 0.9 * h].map((v) => Math.round(v * 100) / 100);
      const toFeat = (x: number, y: number) => [((x + meta.border[2]) * fw) / pw, ((y + meta.border[0]) * fh) / ph];
      const [tx, ty] = toFeat(box[0], box[1]);
      const [bx, by] = toFeat(box[2], box[3]);
      const heads = new HandHeads(1, fh, fw)
        .corner('tl', 0, Math.floor(ty), Math.floor(tx), 1, 0, tx - Math.floor(tx), ty - Math.floor(ty))
        .corner('br', 0, Math.floor(by), Math.floor(bx), 1, 0, bx - Math.floor(bx), by - Math.floor(by))
        .outputs();
      const r = only(decode({ ...heads, meta, k: 1 }));
      assert.strictEqual(r.scores.length, 1);
      for (let c = 0; c < 4; ++c) assert.ok(Math.abs(r.boxes[c] - box[c] / scale) < 1e-3, `coord ${c}: ${r.boxes[c]} vs ${box[c] / scale}`);
    });
  }
});

describe('decode: bad inputs', () => {
  const good = (): DecodeArgs => ({ ...new HandHeads(3, 16, 16).outputs(), meta: META64, k: 4 });
  const f32 = (shape: number[]) => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });

  it('shape mismatches between heads name the argument', () => {
    assert.throws(() => decode({ ...good(), brHeat: f32([1, 2, 16, 16]) }), /argument 'brHeat' must have shape \[1,3,16,16\]/);
    assert.throws(() => decode({ ...good(), tlEmb: f32([1, 2, 16, 16]) }), /argument 'tlEmb'/);
    assert.throws(() => decode({ ...good(), brOff: f32([1, 2, 16, 15]) }), /argument 'brOff'/);
    assert.throws(() => decode({ ...good(), tlOff: f32([2, 2, 16, 16]) }), /argument 'tlOff'/);
    assert.throws(() => decode({ ...good(), tlHeat: f32([3, 16, 16]) }), /argument 'tlHeat' must have 4 dimensions/);
  });

  it('flip outputs: all six or none, with the shape of the main view', () => {
    const mirror = flipped(new HandHeads(3, 16, 16).outputs());
    assert.throws(() => decode({ ...good(), flipTlHeat: mirror.flipTlHeat }), /argument 'flipBrHeat' is required/);
    assert.throws(() => decode({ ...good(), ...mirror, flipTlHeat: f32([1, 3, 8, 8]) }), /argument 'flipTlHeat' must have the shape of tlHeat/);
    assert.throws(() => decode({ ...good(), ...mirror, flipBrEmb: f32([1, 1, 8, 8]) }), /argument 'flipBrEmb'/);
  });

  it('meta and options are checked', () => {
    assert.throws(() => decode({ ...good(), meta: { padShape: [64, 64], imgShape: [64, 64] } as unknown as ImageMeta }), /argument 'meta.border'/);
    assert.throws(() => decode({ ...good(), meta: { ...META64, padShape: [0, 64] } }), /argument 'meta.padShape'/);
    assert.throws(() => decode({ ...good(), meta: [META64, META64] }), /argument 'meta' must hold one entry per image \(1\)/);
    assert.throws(() => decode({ ...good(), meta: [{ ...META64, scaleFactor: -1 }] }), /argument 'meta\[0\].scaleFactor'/);
    assert.throws(() => decode({ ...good(), k: 3 * 16 * 16 + 1 }), /argument 'k'/);
    assert.throws(() => decode({ ...good(), kernel: 4 }), /argument 'kernel' must be odd/);
    assert.throws(() => decode({ ...good(), sigma: 0 }), /argument 'sigma'/);
  });

  it('a NaN in a heat map is an error naming the map', () => {
    const h = new HandHeads(3, 16, 16);
    h.brHeat[100] = NaN;
    assert.throws(() => decode({ ...h.outputs(), meta: META64, k: 4 }), /brHeat holds NaN/);
  });

  it('decodeAsync rejects (does not throw) on bad arguments and on NaN', async () => {
    await assert.rejects(decodeAsync({ ...good(), brHeat: f32([1, 2, 16, 16]) }), /argument 'brHeat'/);
    const h = new HandHeads(3, 16, 16);
    h.tlHeat[5] = NaN;
    await assert.rejects(decodeAsync({ ...h.outputs(), meta: META64, k: 4 }), /tlHeat holds NaN/);
  });
});
