// Backend::decode on the device backends (cuda-emu in CI, cuda:N where a GPU is
// present) against the CPU decoder: the same detections bit for bit (boxes,
// scores, labels, corner scores, and the pre-NMS lists), in the same order.
// Sizes stay small: the emulator runs a fiber per CUDA thread.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { decode, decodeAsync, flipped, type CornerHeadOutputs, type DecodeArgs, type DecodedImage, type Detections, type ImageMeta } from '../../lib/decode';
import type { ModelConfig } from '../../lib/configs';
import { Model } from '../../lib/model';
import { native, type TensorData } from '../../lib/native';
import { availableBackends } from '../../lib/ops';
import { readNpy } from '../helpers/npy';
import { runTool } from '../native/cuda_check_tool';
import { HandHeads, META64 } from './hand_heads';
import { uniform01 } from '../helpers/random_tensor';

const FIXTURES =
  process.env.CORNERNET_PARITY_FIXTURES ?? path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'model-parity');

const devices = availableBackends().filter((b) => b !== 'cpu' && !b.startsWith('cpu:'));

function sameDetections(got: Detections, want: Detections, what: string): void {
  assert.strictEqual(got.scores.length, want.scores.length, `${what}: detection count`);
  // Bit-exact: Float32Array deepStrictEqual compares element values with Object.is.
  assert.deepStrictEqual(got.labels, want.labels, `${what}: labels`);
  assert.deepStrictEqual(got.scores, want.scores, `${what}: scores`);
  assert.deepStrictEqual(got.boxes, want.boxes, `${what}: boxes`);
  assert.deepStrictEqual(got.cornerScores, want.cornerScores, `${what}: corner scores`);
}

function sameImages(got: DecodedImage[], want: DecodedImage[], what: string): void {
  assert.strictEqual(got.length, want.length, `${what}: images`);
  for (let i = 0; i < want.length; ++i) {
    sameDetections(got[i], want[i], `${what} [image ${i}]`);
    assert.strictEqual(!!got[i].preNms, !!want[i].preNms, `${what}: preNms presence`);
    if (want[i].preNms) sameDetections(got[i].preNms!, want[i].preNms!, `${what} [image ${i}] preNms`);
  }
}

// Runs `args` on the CPU and on `device`, and checks they agree; returns the CPU's.
function agree(device: string, args: DecodeArgs, what: string): DecodedImage[] {
  const want = decode(args);
  sameImages(decode(args, device), want, what);
  return want;
}

const rand = uniform01;

function randomHeads(seed: number, N: number, C: number, H: number, W: number, logit: (r: () => number) => number, emb: (r: () => number) => number): CornerHeadOutputs {
  const r = rand(seed);
  const map = (c: number, f: () => number) => {
    const data = new Float32Array(N * c * H * W);
    for (let i = 0; i < data.length; ++i) data[i] = f();
    return { data, shape: [N, c, H, W] };
  };
  return {
    tlHeat: map(C, () => logit(r)),
    brHeat: map(C, () => logit(r)),
    tlEmb: map(1, () => emb(r)),
    brEmb: map(1, () => emb(r)),
    tlOff: map(2, () => r()),
    brOff: map(2, () => r()),
  };
}

describe('decode on device backends: the device expf', () => {
  it("native/cuda/host_math.cuh host_expf equals this machine's std::exp(float) (every 97th float bit pattern)", () => {
    const r = runTool(['expf', '97']);
    assert.strictEqual(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /expf: 44278014 inputs, 0 mismatches/);
  });
});

describe('decode on device backends: equal to the CPU decoder', function () {
  this.timeout(600000);
  if (devices.length === 0) it('no device backend here (cuda-emu appears once its plugin is built)');

  for (const device of devices) {
    describe(device, () => {
      describe('model-parity fixtures (3 classes, 32x32, k 100, num_dets 1000)', () => {
        const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'decode.json'), 'utf8')) as {
          img_meta: { pad_shape: number[]; img_shape: number[]; border: number[] };
        };
        const heads = (prefix: string): CornerHeadOutputs => {
          const read = (name: string) => readNpy(path.join(FIXTURES, `decode_${prefix}${name}_l1.npy`));
          return { tlHeat: read('tl_heat'), brHeat: read('br_heat'), tlEmb: read('tl_emb'), brEmb: read('br_emb'), tlOff: read('tl_off'), brOff: read('br_off') };
        };
        const m = ref.img_meta;
        const meta: ImageMeta = { padShape: m.pad_shape, imgShape: m.img_shape, border: m.border as [number, number, number, number] };
        const args: DecodeArgs = { ...heads(''), meta, numDets: 1000, returnPreNms: true };

        it('soft-NMS and top 100, with the pre-NMS list', () => {
          const want = agree(device, args, 'fixture');
          // The reference's lists: 88 pairs pass the rejection rules, 74 survive soft-NMS.
          assert.deepStrictEqual([want[0].preNms!.scores.length, want[0].scores.length], [88, 74]);
        });
        it('nms: false', () => {
          agree(device, { ...args, nms: false }, 'nms off');
        });
        it('flip test', () => {
          agree(device, { ...args, ...flipped(heads('flip_')) }, 'flip');
        });
        it('a batch of two images with their own metas; decodeAsync', async () => {
          const h = heads('');
          const two = (t: { data: Float32Array; shape: number[] }) => {
            const data = new Float32Array(2 * t.data.length);
            data.set(t.data);
            data.set(t.data.map((v) => v * 0.9), t.data.length);
            return { data, shape: [2, ...t.shape.slice(1)] };
          };
          const shifted: ImageMeta = { ...meta, border: [meta.border[0] - 4, meta.border[1] - 4, meta.border[2] - 4, meta.border[3] - 4], scaleFactor: 0.75 };
          const a: DecodeArgs = {
            ...args,
            tlHeat: two(h.tlHeat), brHeat: two(h.brHeat), tlEmb: two(h.tlEmb), brEmb: two(h.brEmb), tlOff: two(h.tlOff), brOff: two(h.brOff),
            meta: [meta, shifted],
            numDets: 300,
            clip: true,
          };
          const want = agree(device, a, 'batch');
          sameImages(await decodeAsync(a, device), want, 'batch async');
        });
      });

      describe('hand-built heads', () => {
        it('two objects, offsets, border, clamping; maxPerImg and clip', () => {
          const meta: ImageMeta = { padShape: [64, 64], imgShape: [50, 60], border: [4, 54, 2, 62] };
          const h = new HandHeads(3, 16, 16)
            .corner('tl', 0, 2, 2, 3, 0.1, 0.25, 0.5)
            .corner('br', 0, 9, 11, 2, 0.2, 0.75, 0.125)
            .corner('tl', 2, 0, 0, 1, 1, -0.5, -0.5)
            .corner('br', 2, 15, 15, 1.5, 1.3, 0.5, 0.5)
            .outputs();
          for (const o of [{}, { maxPerImg: 1 }, { clip: true }, { maxPerImg: 0 }, { k: 7, numDets: 5 }])
            agree(device, { ...h, meta, k: 4, returnPreNms: true, ...o }, `hand ${JSON.stringify(o)}`);
        });

        it('ties in heat-map scores: equal peaks, plateaus, lower index first', () => {
          // Equal logits in several classes and cells; a 2x2 plateau (every cell survives the 3x3 test).
          const h = new HandHeads(3, 12, 12, -8);
          for (const [c, y, x] of [[0, 1, 1], [1, 1, 1], [2, 1, 1], [0, 5, 7], [0, 5, 8], [0, 6, 7], [0, 6, 8], [2, 3, 3]]) h.corner('tl', c, y, x, 2);
          for (const [c, y, x] of [[0, 9, 9], [1, 9, 9], [2, 9, 9], [0, 10, 10], [1, 11, 3], [2, 8, 10]]) h.corner('br', c, y, x, 2);
          const o = h.outputs();
          for (const k of [3, 5, 8, 12]) agree(device, { ...o, meta: { padShape: [48, 48], imgShape: [48, 48], border: [0, 48, 0, 48] }, k, returnPreNms: true }, `ties k ${k}`);
        });

        it('equal embeddings and a distance exactly at the threshold; equal pair scores', () => {
          const h = new HandHeads(1, 16, 16, -30)
            .corner('tl', 0, 1, 1, 1, 0.5)
            .corner('tl', 0, 4, 4, 1, 0.5)
            .corner('tl', 0, 7, 2, 1, 1.0)
            .corner('br', 0, 10, 10, 1, 0.5)
            .corner('br', 0, 12, 13, 1, 1.0)
            .corner('br', 0, 14, 6, 1, 0.0)
            .outputs();
          for (const distanceThreshold of [0, 0.5, 1])
            agree(device, { ...h, meta: META64, k: 6, distanceThreshold, returnPreNms: true }, `threshold ${distanceThreshold}`);
        });

        it('fewer surviving corners than k: zero-score cells fill the picks (logits -200 and -inf)', () => {
          for (const bg of [-200, -Infinity]) {
            const h = new HandHeads(2, 8, 8, bg).outputs();
            agree(device, { ...h, meta: { padShape: [32, 32], imgShape: [32, 32], border: [0, 32, 0, 32] }, k: 20, returnPreNms: true }, `fill ${bg}`);
          }
        });

        it('kernel 1 and 5', () => {
          const h = new HandHeads(1, 16, 16, -30).corner('tl', 0, 2, 2, 2).corner('tl', 0, 2, 3, 1.5).corner('tl', 0, 4, 4, 1.7).corner('br', 0, 10, 10, 2).outputs();
          for (const kernel of [1, 3, 5]) agree(device, { ...h, meta: META64, k: 3, kernel, nms: false }, `kernel ${kernel}`);
        });

        it('flip test with the unpadded width', () => {
          const meta: ImageMeta = { padShape: [64, 64], imgShape: [60, 58], border: [2, 62, 3, 61] };
          const view = new HandHeads(2, 16, 16).corner('tl', 1, 2, 2, 2).corner('br', 1, 10, 10, 2).outputs();
          const mirror = new HandHeads(2, 16, 16).corner('tl', 1, 2, 6, 1).corner('br', 1, 10, 14, 1).corner('tl', 0, 3, 3, 0.5).corner('br', 0, 9, 12, 0.5).outputs();
          agree(device, { ...view, ...flipped(mirror), meta, k: 2, returnPreNms: true }, 'flip');
        });
      });

      describe('random maps', () => {
        const cases: [string, (r: () => number) => number, (r: () => number) => number][] = [
          ['continuous logits', (r) => -4 + 6 * r(), (r) => 2 * r()],
          // Integer logits and embeddings: plateaus, equal scores, equal embeddings everywhere.
          ['integer logits and embeddings (ties)', (r) => Math.floor(-5 + 5 * r()), (r) => Math.floor(3 * r()) * 0.25],
          ['saturated logits (many equal probabilities near 1)', (r) => 15 + 10 * r(), (r) => r()],
        ];
        for (const [name, logit, emb] of cases)
          it(name, () => {
            const heads = randomHeads(name.length, 1, 3, 12, 20, logit, emb);
            const mirror = randomHeads(name.length + 7, 1, 3, 12, 20, logit, emb);
            const meta: ImageMeta = { padShape: [48, 80], imgShape: [40, 75], border: [4, 44, 2, 77] };
            for (const o of [
              { k: 30, numDets: 400 },
              { k: 30, numDets: 200, softNmsMethod: 'linear' as const, iouOffset: 1 as const },
              { k: 16, numDets: 256, softNmsMethod: 'naive' as const, minScore: 0.2 },
              { k: 20, numDets: 100, ...flipped(mirror), sigma: 0.3, maxPerImg: 50 },
            ])
              agree(device, { ...heads, meta, distanceThreshold: 0.75, returnPreNms: true, ...o }, `${name} ${o.k}/${o.numDets}`);
            // Many candidates (several chunks of the soft-NMS block), all kept by maxPerImg 0: boxes drop out
            // below minScore mid-run, so the device's compaction must match the host's swap-from-the-end.
            const [big] = agree(device, { ...heads, ...flipped(mirror), meta, k: 40, numDets: 1000, distanceThreshold: 3, maxPerImg: 0, minScore: 0.05, returnPreNms: true }, `${name} many`);
            assert.ok(big!.preNms!.scores.length > 200 && big!.scores.length < big!.preNms!.scores.length, `${big!.preNms!.scores.length} -> ${big!.scores.length}`);
          });
      });

      it('k above 65535 is refused by name on the device', () => {
        const h = new HandHeads(1, 256, 257, -5).outputs();
        assert.throws(() => decode({ ...h, meta: META64, k: 65536, numDets: 1, nms: false }, device), /^Error: decode: k \(65536\) above 65535 is not supported on a CUDA device/);
      });

      it('a NaN in a heat map is the CPU decoder\'s error', () => {
        const h = new HandHeads(2, 8, 8).corner('tl', 0, 1, 1, 2).corner('br', 0, 5, 5, 2);
        h.brHeat[64 + 9] = NaN;
        const args: DecodeArgs = { ...h.outputs(), meta: { padShape: [32, 32], imgShape: [32, 32], border: [0, 32, 0, 32] }, k: 4 };
        assert.throws(() => decode(args), /brHeat holds NaN \(channel 1\)/);
        assert.throws(() => decode(args, device), /^Error: decode: brHeat holds NaN \(channel 1\)$/);
        const m = new HandHeads(2, 8, 8);
        m.tlHeat[3] = NaN;
        assert.throws(() => decode({ ...new HandHeads(2, 8, 8).outputs(), ...flipped(m.outputs()), meta: args.meta, k: 4 }, device), /flipTlHeat holds NaN \(channel 0\)/);
      });
    });
  }
});

describe('Model.detect: forward + decode on the model\'s backend', function () {
  this.timeout(600000);
  const tiny: ModelConfig = {
    numStacks: 2,
    downsampleTimes: 2,
    stageChannels: [4, 6, 5],
    stageBlocks: [1, 2, 2],
    featChannel: 4,
    numClasses: 3,
    cornerEmbChannels: 1,
    poolFeatChannels: 3,
    headFeatChannels: 4,
    bnEps: 1e-5,
    bnMomentum: 0.1,
  };
  const image = (seed: number): TensorData => {
    const r = rand(seed);
    return { data: Float32Array.from({ length: 3 * 32 * 48 }, () => 2 * r() - 1), shape: [1, 3, 32, 48] };
  };
  const meta: ImageMeta = { padShape: [32, 48], imgShape: [30, 45], border: [1, 31, 2, 47] };
  const opts = { meta, k: 24, numDets: 200, distanceThreshold: 100, returnPreNms: true };

  it('cpu: detect gives what forward then decode give, bit for bit (with and without the flip test)', async () => {
    const m = new Model(tiny, { seed: 7 });
    const outs = await m.forward(image(1));
    const mirrorOuts = await m.forward(image(2));
    const want = decode({ ...outs[outs.length - 1]!, ...opts });
    assert.ok(want[0]!.preNms!.scores.length > 10, 'a test with candidates');
    sameImages(await m.detect(image(1), opts), want, 'detect');
    const wantFlip = decode({ ...outs[outs.length - 1]!, ...flipped(mirrorOuts[mirrorOuts.length - 1]!), ...opts });
    sameImages(await m.detect(image(1), { ...opts, mirror: image(2) }), wantFlip, 'detect flip');
  });

  for (const device of devices) {
    const missing = native().modelOps('test').filter((o) => !native().backendInfo(device).supports.includes(o));
    if (missing.length) {
      it(`${device}: the model cannot run there yet (no kernel for ${missing.join(', ')})`);
      continue;
    }
    it(`${device}: detect gives the CPU decoder's detections of its own heads bit for bit (flip test included); the heads match the cpu's`, async () => {
      const cpu = new Model(tiny, { seed: 7 });
      const dev = new Model(tiny, { backend: device });
      dev.loadStateDict(cpu.stateDict());
      const outs = await dev.forward(image(1));
      const mirrorOuts = await dev.forward(image(2));
      const last = outs[outs.length - 1]!;
      const want = decode({ ...last, ...flipped(mirrorOuts[mirrorOuts.length - 1]!), ...opts });
      assert.ok(want[0]!.preNms!.scores.length > 10, 'a test with candidates');
      sameImages(await dev.detect(image(1), { ...opts, mirror: image(2) }), want, `detect on ${device}`);
      // The network itself runs other convolution algorithms there (and folds BN in its own
      // arithmetic), so its heads agree with the CPU's to float tolerance, not bit for bit.
      const cpuLast = (await cpu.forward(image(1)))[outs.length - 1]!;
      for (const [name, t] of Object.entries(last) as [keyof CornerHeadOutputs, TensorData][]) {
        const ref = cpuLast[name].data;
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - ref[i]!) / (1 + Math.abs(ref[i]!)));
        assert.ok(worst <= 1e-5, `${name} on ${device}: relative difference ${worst} from the cpu's`);
      }
      cpu.dispose();
      dev.dispose();
    });
  }
});
