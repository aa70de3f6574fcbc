import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  checkpointFile, latestCheckpoint, listCheckpoints, loadCheckpoint, removeStaleTemps, saveCheckpoint, type CheckpointMeta,
} from '../../lib/train/checkpoint';
import { saveSafetensors } from '../../lib/io/safetensors';
import type { TrainerState } from '../../lib/train/native_trainer';

function state(seed: number, n = 1000): TrainerState {
  const f = (k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.1 + seed + k));
  return {
    stateDict: {
      'backbone.stem.0.conv.weight': { data: f(0), shape: [10, n / 10] },
      'backbone.stem.0.bn.num_batches_tracked': { data: BigInt64Array.from([BigInt(seed)]), shape: [] },
    },
    optimizer: { 'backbone.stem.0.conv.weight': { expAvg: { data: f(1), shape: [10, n / 10] }, expAvgSq: { data: f(2), shape: [10, n / 10] }, step: seed } },
  };
}
const meta = (iter: number): CheckpointMeta => ({ iter, epoch: 1, epochIter: 3, loop: { order: [3, 1, 2] }, config: { model: 'x' }, time: 'now' });

describe('train/checkpoint', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-ckpt-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('round-trips weights, counters, optimizer state and metadata bit-exactly', async () => {
    const s = state(4);
    const file = await saveCheckpoint(dir, meta(40), s, 3);
    assert.equal(file, checkpointFile(dir, 40));
    const c = await loadCheckpoint(file);
    assert.deepEqual(c.meta, meta(40));
    assert.deepEqual(c.state.stateDict['backbone.stem.0.conv.weight']!.data, s.stateDict['backbone.stem.0.conv.weight']!.data);
    assert.equal((c.state.stateDict['backbone.stem.0.bn.num_batches_tracked']!.data as BigInt64Array)[0], 4n);
    assert.deepEqual(c.state.optimizer['backbone.stem.0.conv.weight'], s.optimizer['backbone.stem.0.conv.weight']);
  });

  it('keeps the last K checkpoints and finds the newest', async () => {
    for (const it of [10, 20, 30, 40]) await saveCheckpoint(dir, meta(it), state(it), 2);
    assert.deepEqual(listCheckpoints(dir).map((f) => path.basename(f)), ['iter_00000030.safetensors', 'iter_00000040.safetensors']);
    assert.equal((await latestCheckpoint(dir))!.meta.iter, 40);
  });

  it('skips a damaged newest checkpoint, saying so, and resumes from the one before', async () => {
    await saveCheckpoint(dir, meta(10), state(1), 5);
    await saveCheckpoint(dir, meta(20), state(2), 5);
    fs.truncateSync(checkpointFile(dir, 20), 100);
    const warnings: string[] = [];
    const c = await latestCheckpoint(dir, (w) => warnings.push(w));
    assert.equal(c!.meta.iter, 10);
    assert.match(warnings[0]!, /iter_00000020\.safetensors/);
  });

  it('refuses a weights file that is not a training checkpoint', async () => {
    const f = path.join(dir, 'w.safetensors');
    saveSafetensors(f, new Map([['a', { shape: [1], data: Float32Array.from([1]) }]]));
    await assert.rejects(loadCheckpoint(f), /not a cornernet-native training checkpoint.*--weights/);
  });

  it('a process killed while saving leaves the previous checkpoint loadable and no partial file', async function () {
    this.timeout(60000);
    await saveCheckpoint(dir, meta(10), state(1), 5);
    // A child saves a large checkpoint (64 MB) over and over; kill it mid-write.
    const script = `
      const { saveCheckpoint } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/train/checkpoint.js'))});
      const n = 16 * 1024 * 1024;
      const big = new Float32Array(n).fill(1);
      const st = { stateDict: { w: { data: big, shape: [n] } }, optimizer: {} };
      (async () => { process.stdout.write('go\\n'); for (let i = 0; ; i++) await saveCheckpoint(${JSON.stringify(dir)}, { iter: 20, epoch: 0, epochIter: 0, loop: {}, config: {}, time: '' }, st, 5); })();
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const files = listCheckpoints(dir).map((f) => path.basename(f));
    // iter 20 exists only if a whole save completed before the kill; either way every listed file loads.
    for (const f of listCheckpoints(dir)) await loadCheckpoint(f);
    assert.ok(files.includes('iter_00000010.safetensors'));
    assert.equal((await loadCheckpoint(checkpointFile(dir, 10))).meta.iter, 10);
    removeStaleTemps(dir);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')).filter((f) => f.includes('.tmp')), []);
  });
});
