// The whole device path without a GPU: `cuda-emu` (the CUDA backend's own
// source, kernels included, run on the host) as the device of `cornernet train`,
// `cornernet test` and `cornernet detect`, against the CPU from the same seed.
// This covers what no op test does: the allocator and streams across many ops,
// uploads of batches, losses and targets, the optimizer, decoding, and the
// commands' device plumbing.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';

import { native, packageRoot } from '../../lib/native';
import { availableBackends } from '../../lib/ops';
import { loadCheckpoint } from '../../lib/train/checkpoint';
import { train } from '../../lib/train/loop';
import { synthCacheDir } from '../../lib/data/synth_cache';

// 16 training images of 64 px, 4 val images, batch 4: 3 steps. Small: the
// emulator runs every GPU thread as a fiber.
const SYNTH = { train: 16, val: 4, size: 64, seed: 3 };
const SMALL = [
  `data.synth.train=${SYNTH.train}`, `data.synth.val=${SYNTH.val}`, `data.synth.size=${SYNTH.size}`, `data.synth.seed=${SYNTH.seed}`,
  'data.inputSize=64', 'data.workers=1', 'train.batchSize=4', 'train.epochs=1', 'evaluation.flip=false',
  'evaluation.intervalEpochs=5', 'log.intervalIters=1', 'schedule.warmupIters=1', 'schedule.steps=[1]',
  // The bounds below were measured at this lr, and a time-budgeted schedule would place the lr
  // step by each device's own speed: an epoch schedule makes both runs take the same rates.
  'optimizer.lr=2.5e-3', 'schedule.stepFractions=null', 'train.maxMinutes=null',
];
const STEPS = 3;

class Sink extends Writable {
  text = '';
  override _write(c: Buffer, _e: string, cb: () => void) {
    this.text += c.toString();
    cb();
  }
}

function missingOnEmu(purpose: 'train' | 'test'): string[] {
  const have = new Set(native().backendInfo('cuda-emu').supports);
  return native().modelOps(purpose).filter((o) => !have.has(o));
}

const BIN = path.join(packageRoot, 'bin', 'cornernet.js');
function cornernet(args: string[], env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cuda-emu as the device of train, test and detect', function () {
  this.timeout(300_000);
  if (!availableBackends().includes('cuda-emu')) {
    it('skipped: the cuda-emu plugin is not available here');
    return;
  }
  const missingTrain = missingOnEmu('train');
  if (missingTrain.length) {
    it(`skipped: the CUDA backend has no kernel for ${missingTrain.join(', ')}`);
    return;
  }

  let root: string;
  let cache: string;
  const runs: Record<string, { dir: string; checkpoint: string; out: string }> = {};
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-emu-'));
    cache = path.join(root, 'cache');
    for (const device of ['cpu', 'cuda-emu']) {
      const dir = path.join(root, device);
      const sink = new Sink();
      const r = await train({ config: 'shapes-tiny', workDir: dir, cacheRoot: cache, progressStream: sink, tty: false, maxIters: STEPS, set: [...SMALL, `device=${device}`] });
      assert.equal(r.iterations, STEPS, sink.text);
      runs[device] = { dir, checkpoint: r.checkpoint!, out: sink.text };
    }
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it(`trains ${STEPS} steps to the CPU's weights from the same seed, and records the device`, async () => {
    const a = await loadCheckpoint(runs.cpu!.checkpoint);
    const b = await loadCheckpoint(runs['cuda-emu']!.checkpoint);
    // Sums run in other orders on the device, so gradients differ in their last
    // bits; Adam turns a gradient into a step of about lr whatever its size, so
    // a weight may differ by up to ~2 lr per step where the gradient is tiny, and
    // from the second step on the batches meet slightly different weights. The
    // CPU's 3x3 weight gradients are taken in the Winograd domain (rounding about
    // 1e-6 of the gradient's scale, the device's direct sums 1e-7): after 3 steps
    // about 80 % of the weights differ by more than 1e-4, and the CPU's own avx512
    // and portable kernels (CORNERNET_CPU_ISA) drift apart as far (their losses
    // below). So the weights are
    // held to Adam's bound, the BN running statistics (which follow the
    // activations) to a relative one, and the first step's loss, on identical
    // weights, must agree to rounding.
    const lr = (a.meta.config as { optimizer: { lr: number } }).optimizer.lr;
    let worst = 0;
    let worstStat = 0;
    for (const [k, v] of Object.entries(a.state.stateDict)) {
      const w = b.state.stateDict[k]!;
      assert.deepEqual(w.shape, v.shape, k);
      if (!(v.data instanceof Float32Array)) {
        assert.deepEqual(Array.from(w.data as BigInt64Array), Array.from(v.data as BigInt64Array), k);
        continue;
      }
      const stat = /\.running_(mean|var)$/.test(k);
      for (let i = 0; i < v.data.length; i++) {
        const d = Math.abs((w.data as Float32Array)[i]! - v.data[i]!);
        if (stat) worstStat = Math.max(worstStat, d / Math.max(1, Math.abs(v.data[i]!)));
        else worst = Math.max(worst, d);
      }
    }
    assert.ok(worst <= 2 * lr * STEPS, `largest weight difference ${worst} (bound ${2 * lr * STEPS})`);
    // Measured: 0.046 (relative, at most 1) after 3 steps.
    assert.ok(worstStat <= 0.1, `largest BN running-statistic difference ${worstStat} (relative; bound 0.1)`);
    const metrics = fs.readFileSync(path.join(runs['cuda-emu']!.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const cpuMetrics = fs.readFileSync(path.join(runs.cpu!.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const totals = (ms: { kind: string; losses?: { total: number } }[]) => ms.filter((m) => m.kind === 'train').map((m) => m.losses!.total);
    const [lc, le] = [totals(cpuMetrics), totals(metrics)];
    assert.equal(le.length, lc.length);
    // Measured: 3e-7, 1e-3 and 9e-3 relative at steps 1, 2 and 3 (avx512 against portable
    // kernels on the CPU: 2e-7, 1e-3, 1.2e-2): the first on the same weights, then drifting as above.
    lc.forEach((l, i) => assert.ok(Math.abs(le[i]! - l) <= (i === 0 ? 2e-6 : 5e-2) * Math.abs(l), `step ${i + 1}: loss ${le[i]} on cuda-emu, ${l} on cpu`));
    assert.ok(metrics.filter((m) => m.kind === 'train').every((m) => m.device === 'cuda-emu'));
    const ev = JSON.parse(fs.readFileSync(path.join(runs['cuda-emu']!.dir, 'eval.json'), 'utf8'));
    assert.equal(ev.device, 'cuda-emu');
  });

  it('cornernet test and detect on cuda-emu give the CPU\'s detections', function () {
    const missing = missingOnEmu('test');
    if (missing.length) this.skip();
    const data = synthCacheDir(SYNTH, cache);
    const weights = runs.cpu!.checkpoint;
    const env = { CORNERNET_CACHE: cache };
    const test = (device: string) => {
      const out = path.join(root, `dets-${device}.json`);
      const r = cornernet(['test', '--weights', weights, '--data', data, '--device', device, '--json', '--out', out], env);
      assert.equal(r.status, 0, r.stderr);
      return { summary: JSON.parse(r.stdout), dets: JSON.parse(fs.readFileSync(out, 'utf8')) as { image_id: number; category_id: number; bbox: number[]; score: number }[] };
    };
    const cpu = test('cpu');
    const emu = test('cuda-emu');
    assert.equal(emu.summary.device, 'cuda-emu');
    assert.equal(emu.dets.length, cpu.dets.length);
    // Head outputs agree to ~1e-5; scores and boxes of the same detections follow.
    emu.dets.forEach((d, i) => {
      const c = cpu.dets[i]!;
      assert.equal(d.image_id, c.image_id);
      assert.equal(d.category_id, c.category_id);
      assert.ok(Math.abs(d.score - c.score) <= 1e-4, `detection ${i}: score ${d.score} vs ${c.score}`);
      d.bbox.forEach((v, j) => assert.ok(Math.abs(v - c.bbox[j]!) <= 1e-2, `detection ${i}: bbox ${d.bbox} vs ${c.bbox}`));
    });
    emu.summary.stats.forEach((v: number, i: number) => assert.ok(Math.abs(v - cpu.summary.stats[i]) <= 1e-6, `stat ${i}`));

    const image = path.join(data, 'val', fs.readdirSync(path.join(data, 'val')).sort()[0]!);
    const detect = (device: string) => {
      const r = cornernet(['detect', '--weights', weights, '--device', device, '--score-thr', '0', image], env);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { device: string; detections: { label: number; score: number; box: number[] }[] }[];
    };
    const [dc] = detect('cpu');
    const [de] = detect('cuda-emu');
    assert.equal(de!.device, 'cuda-emu');
    assert.equal(de!.detections.length, dc!.detections.length);
    de!.detections.forEach((d, i) => {
      assert.equal(d.label, dc!.detections[i]!.label);
      assert.ok(Math.abs(d.score - dc!.detections[i]!.score) <= 1e-4);
    });
  });
});
