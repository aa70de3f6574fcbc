// Shared by the decode tests: hand-drawn head outputs, the comparison with
// reference detections, small utilities.
import * as assert from 'assert';

import type { CornerHeadOutputs, Detections, ImageMeta } from '../../lib/decode';

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export interface RefDetections {
  boxes: number[][];
  scores: number[];
  labels: number[];
}

export function assertMatches(got: Pick<Detections, 'boxes' | 'scores' | 'labels'>, want: RefDetections, what: string, boxAtol = 1e-3, scoreAtol = 1e-5): void {
  assert.strictEqual(got.scores.length, want.scores.length, `${what}: detection count`);
  assert.strictEqual(got.boxes.length, 4 * want.scores.length, `${what}: boxes length`);
  assert.strictEqual(got.labels.length, want.scores.length, `${what}: labels length`);
  for (let i = 0; i < want.scores.length; ++i) {
    assert.strictEqual(got.labels[i], want.labels[i], `${what}: label of detection ${i}`);
    assert.ok(Math.abs(got.scores[i] - want.scores[i]) <= scoreAtol, `${what}: score ${i}: ${got.scores[i]} vs ${want.scores[i]}`);
    for (let c = 0; c < 4; ++c)
      assert.ok(
        Math.abs(got.boxes[4 * i + c] - want.boxes[i][c]) <= boxAtol,
        `${what}: box ${i}[${c}]: ${got.boxes[4 * i + c]} vs ${want.boxes[i][c]}`
      );
  }
}

// Head outputs of one image drawn by hand: every heat logit at `background`
// (so only the placed corners are picked first), embeddings and offsets 0.
export class HandHeads {
  readonly tlHeat: Float32Array;
  readonly brHeat: Float32Array;
  readonly tlEmb: Float32Array;
  readonly brEmb: Float32Array;
  readonly tlOff: Float32Array;
  readonly brOff: Float32Array;

  constructor(readonly C: number, readonly H: number, readonly W: number, background = -20) {
    this.tlHeat = new Float32Array(C * H * W).fill(background);
    this.brHeat = new Float32Array(C * H * W).fill(background);
    this.tlEmb = new Float32Array(H * W);
    this.brEmb = new Float32Array(H * W);
    this.tlOff = new Float32Array(2 * H * W);
    this.brOff = new Float32Array(2 * H * W);
  }

  corner(kind: 'tl' | 'br', cls: number, y: number, x: number, logit: number, emb = 0, offX = 0, offY = 0): this {
    const cell = y * this.W + x;
    const hw = this.H * this.W;
    (kind === 'tl' ? this.tlHeat : this.brHeat)[cls * hw + cell] = logit;
    (kind === 'tl' ? this.tlEmb : this.brEmb)[cell] = emb;
    const off = kind === 'tl' ? this.tlOff : this.brOff;
    off[cell] = offX;
    off[hw + cell] = offY;
    return this;
  }

  outputs(): CornerHeadOutputs {
    const { C, H, W } = this;
    return {
      tlHeat: { data: this.tlHeat, shape: [1, C, H, W] },
      brHeat: { data: this.brHeat, shape: [1, C, H, W] },
      tlEmb: { data: this.tlEmb, shape: [1, 1, H, W] },
      brEmb: { data: this.brEmb, shape: [1, 1, H, W] },
      tlOff: { data: this.tlOff, shape: [1, 2, H, W] },
      brOff: { data: this.brOff, shape: [1, 2, H, W] },
    };
  }
}

// A 64x64 network input with a 16x16 output (stride 4), no padding.
export const META64: ImageMeta = { padShape: [64, 64], imgShape: [64, 64], border: [0, 64, 0, 64] };

export function only<T>(xs: T[]): T {
  assert.strictEqual(xs.length, 1);
  return xs[0];
}
