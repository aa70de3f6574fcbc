// Explicit lifecycle of what holds engine memory (Model, Detector, the native
// Trainer): dispose() frees it at once, `await using` disposes, a parent
// disposes its children, a call after dispose throws naming the object and the
// method; and RSS stays flat over 100 load/dispose cycles and 1,000 detections
// (each measured in a child process, rss_child.ts, so other tests' memory does not count).
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { loadDetector } from '../../lib/detector';
import { saveSafetensors } from '../../lib/io/safetensors';
import { DisposedError } from '../../lib/lifecycle';
import { Model } from '../../lib/model';
import { native, type NativeModel, type TensorData } from '../../lib/native';
import { availableBackends } from '../../lib/ops';
import { NativeTrainer } from '../../lib/train/native_trainer';
import { resolveConfig } from '../../lib/train/resolve_config';
import { tmpDir } from '../data/coco_fixture';
import { MICRO_CONFIG, writeMicroFixture } from './micro_weights';

const input = (size = 63): TensorData => ({ data: new Float32Array(3 * size * size).fill(0.2), shape: [1, 3, size, size] });
const nativeOf = (m: Model) => (m as unknown as { impl: NativeModel }).impl;

describe('lifecycle: dispose and Symbol.asyncDispose', function () {
  this.timeout(60_000);
  let dir: string;
  let micro: { weights: string; image: string };
  before(async () => {
    dir = tmpDir('lifecycle');
    micro = await writeMicroFixture(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('Model', () => {
    it('dispose() frees the engine model; every later call throws naming Model and the method', async () => {
      const m = new Model(MICRO_CONFIG);
      await m.forward(input());
      m.dispose();
      assert.equal(m.disposed, true);
      assert.equal(nativeOf(m).released(), true, 'the native model still holds its network');
      m.dispose(); // twice: nothing
      const named = (method: string) => (e: unknown) => e instanceof DisposedError && e.message.startsWith(`Model.${method}: this Model was disposed`);
      assert.throws(() => m.keys(), named('keys'));
      assert.throws(() => m.parameterCount(), named('parameterCount'));
      assert.throws(() => m.stateDict(), named('stateDict'));
      assert.throws(() => m.loadStateDict({}), named('loadStateDict'));
      assert.throws(() => m.outputShapes([1, 3, 63, 63]), named('outputShapes'));
      assert.throws(() => m.gradients(), named('gradients'));
      assert.throws(() => m.zeroGrad(), named('zeroGrad'));
      await assert.rejects(m.forward(input()), named('forward'));
      await assert.rejects(m.detect(input(), { meta: { padShape: [63, 63], imgShape: [63, 63], border: [0, 63, 0, 63] } }), named('detect'));
      await assert.rejects(m.backward([{}]), named('backward'));
      assert.equal(m.backend, 'cpu', 'the backend name stays readable');
    });

    it('the engine refuses a released model too (calls that bypass the wrapper never reach freed memory)', () => {
      const m = new Model(MICRO_CONFIG);
      m.dispose();
      assert.throws(() => nativeOf(m).keys(), /model\.keys: the model was released/);
      assert.throws(() => nativeOf(m).stateDict(), /model\.stateDict: the model was released/);
    });

    it('dispose() during a forward lets it finish, then frees', async () => {
      const m = new Model(MICRO_CONFIG);
      const running = m.forward(input());
      m.dispose();
      assert.equal(nativeOf(m).released(), true);
      const levels = await running;
      assert.equal(levels[0]!.tlHeat.shape.join(','), '1,2,16,16');
      await assert.rejects(m.forward(input()), DisposedError);
    });

    const devices = availableBackends().filter((b) => b !== 'cpu');
    it(`dispose() gives a device model's memory back to the backend's allocator [${devices.join(', ') || 'no device backend: skipped'}]`, async function () {
      if (!devices.length) this.skip();
      for (const backend of devices) {
        const inUse = () => native().backendInfo(backend).memory!.inUse;
        const before = inUse();
        const m = new Model(MICRO_CONFIG, { backend });
        await m.forward(input());
        assert.ok(inUse() > before, `${backend}: the model holds no device memory`);
        m.dispose();
        assert.equal(inUse(), before, `${backend}: device memory still held after dispose()`);
      }
    });

    it('await using disposes at the end of the block, after the call in flight', async () => {
      let kept: Model | undefined;
      let outputs = 0;
      {
        await using m = new Model(MICRO_CONFIG);
        kept = m;
        void m.forward(input()).then((l) => (outputs = l.length));
      }
      assert.equal(outputs, 1, 'the forward had not finished when the model was disposed');
      assert.equal(kept.disposed, true);
    });
  });

  describe('Detector', () => {
    it('disposing the detector disposes its model; later calls throw naming Detector and the method', async () => {
      const det = await loadDetector({ weights: micro.weights, device: 'cpu' });
      const model = det.model;
      await det.detect(micro.image);
      det.dispose();
      assert.equal(model.disposed, true);
      assert.equal(nativeOf(model).released(), true);
      const named = (method: string) => (e: unknown) => e instanceof DisposedError && e.message.startsWith(`Detector.${method}: this Detector was disposed`);
      await assert.rejects(det.detect(micro.image), named('detect'));
      await assert.rejects(det.detectBatch([micro.image]), named('detectBatch'));
      await assert.rejects(det.detectAll([micro.image]).next(), named('detectAll'));
      await assert.rejects(det.cornerHeatmaps(micro.image), named('cornerHeatmaps'));
      assert.throws(() => det.model, named('model'));
    });

    it('a detection queued behind a dispose() is refused; the one running finishes', async () => {
      const det = await loadDetector({ weights: micro.weights, device: 'cpu' });
      const a = det.detect(micro.image);
      await new Promise((r) => setImmediate(r));
      det.dispose();
      const b = det.detect(micro.image);
      await assert.rejects(b, DisposedError);
      // `a` either ran before the dispose or was refused by it: never a crash, never a hang.
      await a.then(
        (r) => assert.ok(Array.isArray(r)),
        (e) => assert.ok(e instanceof DisposedError, String(e)),
      );
    });

    it('await using waits for the detections in flight, then disposes', async () => {
      let kept;
      let found = -1;
      {
        await using det = await loadDetector({ weights: micro.weights, device: 'cpu', scoreThreshold: 0 });
        kept = det;
        void det.detect(micro.image).then((r) => (found = r.length));
      }
      assert.ok(found > 0, 'the detection had not finished when the detector was disposed');
      assert.equal(kept.disposed, true);
      assert.equal(kept.disposed && nativeOf((kept as unknown as { modelRef: Model }).modelRef).released(), true);
    });
  });

  describe('NativeTrainer', () => {
    it('dispose() stops the thread and frees the replicas; later calls throw naming NativeTrainer and the method', async () => {
      const t = new NativeTrainer({ model: MICRO_CONFIG }, () => {});
      assert.ok(t.keys().length > 0);
      await t.dispose();
      const named = (method: string) => (e: unknown) => e instanceof DisposedError && e.message.startsWith(`NativeTrainer.${method}: this NativeTrainer was disposed`);
      assert.throws(() => t.keys(), named('keys'));
      await assert.rejects(t.snapshot(), named('snapshot'));
      await t.close(); // after dispose: nothing
    });

    it('await using closes it', async () => {
      let kept: NativeTrainer | undefined;
      {
        await using t = new NativeTrainer({ model: MICRO_CONFIG }, () => {});
        kept = t;
        await t.snapshot();
      }
      assert.throws(() => kept.keys(), DisposedError);
    });
  });

  describe('RSS', function () {
    this.timeout(120_000);
    // A child process with its own heap: node --expose-gc dist/test/detector/rss_child.js MODE WEIGHTS IMAGE N [keep].
    // Ten samples, each after a full collection. Flat: the median of the last five exceeds
    // that of the first five by less than the bound (single samples move by up to ~30 MiB
    // as malloc arenas and sharp's cache come and go; a leak moves them all).
    const child = (args: string[]) => {
      const { baseline, samples } = JSON.parse(
        execFileSync(process.execPath, ['--expose-gc', path.join(__dirname, 'rss_child.js'), ...args], { encoding: 'utf8' }),
      ) as { baseline: number; samples: number[] };
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const drift = median(samples.slice(5)) - median(samples.slice(0, 5));
      return { drift, text: `baseline ${baseline.toFixed(0)} MiB, samples ${samples.map((s) => s.toFixed(0)).join(' ')}` };
    };

    // shapes-tiny (3.2 MB of weights): a cycle whose memory dispose() did not free adds at least that.
    // Every detector stays referenced: dispose() must free what the collector cannot.
    const shapesTinyWeights = () => {
      const cfg = { ...resolveConfig('shapes-tiny').model };
      const weights = path.join(dir, 'shapes-tiny.safetensors');
      if (!fs.existsSync(weights)) {
        const m = new Model(cfg);
        saveSafetensors(weights, Object.entries(m.stateDict()), { config: JSON.stringify(cfg) });
        m.dispose();
      }
      return weights;
    };

    it('stays flat over 100 load/dispose cycles of a detector (bound 32 MiB; measured +3 MiB)', () => {
      const r = child(['load', shapesTinyWeights(), micro.image, '100']);
      assert.ok(r.drift < 32, `RSS drifted by ${r.drift.toFixed(1)} MiB over 100 load/dispose cycles (${r.text})`);
    });

    it('the measure sees the leak when the detectors are never disposed (measured +162 MiB)', () => {
      const r = child(['load', shapesTinyWeights(), micro.image, '100', 'keep']);
      assert.ok(r.drift > 32, `RSS drifted by only ${r.drift.toFixed(1)} MiB with 100 live detectors (${r.text})`);
    });

    it('stays flat over 1,000 detections (bound 16 MiB; measured 0 MiB)', () => {
      const r = child(['detect', micro.weights, micro.image, '1000']);
      assert.ok(r.drift < 16, `RSS drifted by ${r.drift.toFixed(1)} MiB over 1,000 detections (${r.text})`);
    });
  });
});
