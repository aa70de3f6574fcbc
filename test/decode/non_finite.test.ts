// NaN or infinite decoder inputs are refused, naming the argument and channel
// (issue 14): before, NaN embeddings and infinite offsets came out as boxes with
// Infinity coordinates and NaN scores went through soft-NMS.
import * as assert from 'assert';

import { decode, decodeAsync, flipped, softNms, softNmsMerge } from '../../lib/decode';
import { availableBackends } from '../../lib/ops';
import { HandHeads, META64 } from './hand_heads';

const heads = () => new HandHeads(2, 16, 16).corner('tl', 0, 2, 2, 1, 0).corner('br', 0, 10, 10, 1, 0);
const HW = 16 * 16;

describe('decode: non-finite inputs', () => {
  it('a NaN embedding or an infinite offset is an error naming the argument and channel', async () => {
    let h = heads();
    h.tlEmb[5] = NaN;
    assert.throws(() => decode({ ...h.outputs(), meta: META64, k: 4 }), /^Error: decode: tlEmb holds NaN \(channel 0\)$/);
    h = heads();
    h.brOff[HW + 3] = Infinity;
    assert.throws(() => decode({ ...h.outputs(), meta: META64, k: 4 }), /^Error: decode: brOff holds Infinity \(channel 1\)$/);
    h = heads();
    h.tlOff[7] = -Infinity;
    await assert.rejects(decodeAsync({ ...h.outputs(), meta: META64, k: 4 }), /decodeAsync: tlOff holds -Infinity \(channel 0\)/);
    // In a batch, the image is named too.
    const a = heads().outputs(), bad = heads();
    bad.brOff[HW + 1] = NaN;
    const b = bad.outputs();
    const batch = Object.fromEntries(
      Object.entries(a).map(([k, t]) => [k, { data: Float32Array.from([...t.data, ...b[k as keyof typeof b].data]), shape: [2, ...t.shape.slice(1)] }]),
    );
    assert.throws(() => decode({ ...(batch as unknown as typeof a), meta: META64, k: 4 }), /decode: brOff holds NaN \(image 1, channel 1\)/);
    // The mirrored view's maps are checked the same way.
    const m = heads();
    m.brEmb[9] = NaN;
    assert.throws(() => decode({ ...heads().outputs(), ...flipped(m.outputs()), meta: META64, k: 4 }), /flipBrEmb holds NaN \(channel 0\)/);
  });

  // The check runs before either decoder: a device backend (cuda-emu in CI) gives the CPU's error.
  for (const device of availableBackends().filter((b) => b !== 'cpu' && !b.startsWith('cpu:')))
    it(`${device}: the same errors as the CPU`, () => {
      const h = heads();
      h.brEmb[HW - 1] = NaN;
      assert.throws(() => decode({ ...h.outputs(), meta: META64, k: 4 }, device), /^Error: decode: brEmb holds NaN \(channel 0\)$/);
      const g = heads();
      g.tlOff[HW + 2] = Infinity;
      assert.throws(() => decode({ ...g.outputs(), meta: META64, k: 4 }, device), /^Error: decode: tlOff holds Infinity \(channel 1\)$/);
    });

  it('infinite heat logits are still taken (the sigmoid makes them 0 or 1); NaN heat is refused', () => {
    const h = heads();
    h.brHeat[HW + 3] = -Infinity;
    const [d] = decode({ ...h.outputs(), meta: META64, k: 4 });
    for (const v of d!.boxes) assert.ok(Number.isFinite(v));
    h.brHeat[HW + 3] = NaN;
    assert.throws(() => decode({ ...h.outputs(), meta: META64, k: 4 }), /brHeat holds NaN \(channel 1\)/);
  });

  it('softNms and softNmsMerge refuse NaN scores and infinite boxes, naming the argument and entry', () => {
    const boxes = (b: number[]) => ({ data: Float32Array.from(b), shape: [b.length / 4, 4] });
    const vec = (v: number[], shape = [v.length]) => ({ data: Float32Array.from(v), shape });
    assert.throws(() => softNms({ boxes: boxes([0, 0, 10, 10, 1, 1, 11, 11]), scores: vec([0.4, NaN]) }), /softNms: argument 'scores' holds a non-finite value \(NaN\) at entry 1/);
    assert.throws(() => softNms({ boxes: boxes([0, 0, 10, Infinity, 1, 1, 11, 11]), scores: vec([0.4, 0.5]) }), /argument 'boxes' holds a non-finite value \(Infinity\) at entry 0, column 3/);
    assert.throws(
      () => softNmsMerge({ boxes: boxes([0, 0, 10, 10]), scores: vec([0.5]), cornerScores: vec([0.1, NaN], [1, 2]) }),
      /softNmsMerge: argument 'cornerScores' holds a non-finite value \(NaN\) at entry 0, column 1/,
    );
    const ok = softNms({ boxes: boxes([0, 0, 10, 10, 1, 1, 11, 11]), scores: vec([0.4, 0.5]) });
    for (const s of ok.scores) assert.ok(Number.isFinite(s));
  });
});
