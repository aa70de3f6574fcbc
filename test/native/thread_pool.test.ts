// The engine's thread pool (native/engine/thread_pool.h): threads spin for
// CORNERNET_SPIN_US between parallel regions before they sleep. Its rules are
// checked natively by `test-backend-ops threads` (every item of every region
// once, with spinning off, default and endless, and across sleeps; errors;
// nesting; two callers), and here what a user sees: the same training losses,
// bit for bit, whether threads spin or sleep, and the setting in `info()`.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { packageRoot } from '../../lib/native';

const program = path.join(packageRoot, 'build', 'cmake', 'Release', 'test-backend-ops');

/** Losses of 3 training steps of a tiny model and info().spinMicroseconds, in a child with `env`. */
function stepsInChild(env: Record<string, string>): { losses: number[]; spin: number } {
  const script = `
const { modelPreset } = require(${JSON.stringify(path.join(packageRoot, 'dist', 'lib', 'configs'))});
const { syntheticBatch } = require(${JSON.stringify(path.join(packageRoot, 'dist', 'bench', 'trainer_steps.js'))});
const { NativeTrainer } = require(${JSON.stringify(path.join(packageRoot, 'dist', 'lib', 'train', 'native_trainer.js'))});
const { native } = require(${JSON.stringify(path.join(packageRoot, 'dist', 'lib', 'native.js'))});
(async () => {
  const model = modelPreset('shapes-tiny');
  const adam = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 35 };
  const losses = [];
  let done;
  const finished = new Promise((r) => { done = r; });
  const trainer = new NativeTrainer({ model, seed: 0, backend: 'cpu', adam }, (e) => {
    if (e.type !== 'step') throw new Error('step failed: ' + JSON.stringify(e));
    losses.push(e.total);
    if (losses.length === 3) done();
  });
  for (let i = 0; i < 3; i++) trainer.feed({ ...syntheticBatch(2, 64, model.numClasses, 2, 5 + i), iter: i });
  await finished;
  await trainer.close();
  console.log(JSON.stringify({ losses, spin: native().info().spinMicroseconds }));
})().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, CORNERNET_NUM_THREADS: '2', ...env }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('engine thread pool', () => {
  it('test-backend-ops threads: every item once, errors, nesting, two callers, spinning or asleep', function () {
    if (!fs.existsSync(program)) this.skip();
    const r = spawnSync(program, ['threads'], { encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, `failed:\n${out.split('\n').filter((l) => !l.startsWith('ok')).join('\n')}`);
    assert.match(out, /threads: 0 failed/);
    assert.doesNotMatch(out, /FAIL/);
  });

  it('training steps give the same losses, bit for bit, with threads spinning or sleeping (CORNERNET_SPIN_US)', function () {
    this.timeout(120_000);
    const sleeping = stepsInChild({ CORNERNET_SPIN_US: '0' });
    const spinning = stepsInChild({ CORNERNET_SPIN_US: '5000' });
    const byDefault = stepsInChild({ CORNERNET_SPIN_US: '' });
    assert.equal(sleeping.spin, 0);
    assert.equal(spinning.spin, 5000);
    assert.equal(byDefault.spin, 200);
    assert.equal(sleeping.losses.length, 3);
    assert.ok(sleeping.losses.every(Number.isFinite));
    assert.deepEqual(spinning.losses, sleeping.losses);
    assert.deepEqual(byDefault.losses, sleeping.losses);
  });
});
