// `cornernet train --max-minutes M` with the default recipe's schedule
// (schedule.stepFractions): the whole command ends within the budget, its final
// evaluation included, after taking its lr step; a run stopped after the plan
// was decided resumes with that plan.
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { packageRoot } from '../../lib/native';
import { latestCheckpoint } from '../../lib/train/checkpoint';
import { cornernet, makeCliFixture, type CliFixture } from './cli_fixture';

// 16 training images of 64 px, batches of 4: steps of a few hundredths of a second.
const SMALL = ['data.inputSize=64', 'data.workers=2', 'train.batchSize=4', 'evaluation.flip=false', 'evaluation.intervalEpochs=3', 'log.intervalIters=1',
  'schedule.warmupIters=2', 'optimizer.lr=0.004'].flatMap((s) => ['--set', s]);

interface TrainRecord {
  kind: string;
  iter: number;
  lr: number;
}

function trainRecords(workDir: string): TrainRecord[] {
  return fs
    .readFileSync(path.join(workDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.endsWith('}')) // not a line being written
    .map((l) => JSON.parse(l) as TrainRecord)
    .filter((r) => r.kind === 'train');
}

describe('cornernet train --max-minutes (a time-budgeted schedule)', function () {
  this.timeout(60_000);
  let f: CliFixture;
  before(async () => {
    f = await makeCliFixture('cli-budget', { train: 16, val: 4 });
  });
  after(() => fs.rmSync(f.dir, { recursive: true, force: true }));

  it('ends within the budget, evaluation included, after its lr step at 86 % of the planned iterations', async () => {
    const wd = path.join(f.dir, 'budget');
    const budget = 0.2; // minutes: 12 s
    const t0 = Date.now();
    const r = cornernet(['train', '--data', f.data, '--work-dir', wd, '--max-minutes', String(budget), ...SMALL]);
    const wall = (Date.now() - t0) / 1000;
    assert.equal(r.status, 0, r.stderr);
    assert.ok(wall <= budget * 60 + 1, `took ${wall.toFixed(1)} s of a ${budget * 60} s budget`);
    assert.match(r.stderr, /budget: \d+ iterations \([\d.]+ epochs\) fit, at [\d.]+ s per iteration with [\d.]+ s per evaluation; lr steps at iterations \d+/);
    assert.match(r.stderr, /stopped \(max-minutes\): \d+ iterations in/);
    assert.match(r.stderr, /Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95/);
    const ck = (await latestCheckpoint(wd))!;
    const plan = ck.meta.plan!;
    assert.equal(plan.limit, 'max-minutes');
    assert.equal(plan.timeFitted, true);
    assert.equal(ck.meta.iter, plan.totalIters);
    // The step comes at 86 % of the plan (or, had the plan been shortened late, no later than it).
    assert.ok(plan.stepIters[0]! <= Math.round(0.86 * plan.totalIters) + 1 && plan.stepIters[0]! < plan.totalIters, JSON.stringify(plan));
    const records = trainRecords(wd);
    const lrAt = (iter: number) => records.find((x) => x.iter === iter + 1)!.lr;
    assert.equal(lrAt(plan.totalIters - 1), 0.004 * 0.1, 'the last iteration ran at the stepped lr');
    assert.equal(lrAt(plan.stepIters[0]! - 1), 0.004, 'the one before the step at the full lr');
  });

  it('a run stopped once its plan is decided resumes with that plan', async () => {
    const wd = path.join(f.dir, 'resume');
    const args = ['train', '--data', f.data, '--work-dir', wd, '--max-minutes', '0.25', ...SMALL];
    const child = spawn(process.execPath, [path.join(packageRoot, 'bin', 'cornernet.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    // Stopped at 80 % of its plan (the latest: a plan may grow before its step), before the lr step at
    // 86 %: the resumed run's own budget (the same 15 s, start-up and evaluation included) holds the last
    // 20 % with room to spare even on a busy machine (at half the plan, a 2-core CI machine had to
    // shorten it: 144 -> 132 iterations).
    const late = () => {
      const planned = Number([...err.matchAll(/budget: (\d+) iterations/g)].at(-1)?.[1]);
      return planned > 0 && fs.existsSync(path.join(wd, 'metrics.jsonl')) && trainRecords(wd).some((x) => x.iter >= planned * 0.8);
    };
    while (!late()) {
      assert.equal(child.exitCode, null, `ended before 80 % of its plan:\n${err}`);
      await new Promise((res) => setTimeout(res, 20));
    }
    child.kill('SIGINT');
    assert.equal(await exit, 130, err);
    const stopped = (await latestCheckpoint(wd))!;
    const plan = stopped.meta.plan!;
    assert.equal(plan.timeFitted, true);
    assert.ok(stopped.meta.iter < plan.stepIters[0]!, `stopped at ${stopped.meta.iter}, before the step (${JSON.stringify(plan)})`);
    // Its own budget (a fresh 15 s) fits more iterations than the 20 % left: the plan stays.
    const r = cornernet(['train', '--data', f.data, '--work-dir', wd, '--max-minutes', '0.25', '--resume']);
    assert.equal(r.status, 0, r.stderr);
    const end = (await latestCheckpoint(wd))!;
    assert.deepEqual(end.meta.plan, plan);
    assert.equal(end.meta.iter, plan.totalIters);
    const records = trainRecords(wd);
    assert.equal(records.find((x) => x.iter === plan.stepIters[0]! + 1)!.lr, 0.004 * 0.1);
    assert.equal(records.find((x) => x.iter === plan.stepIters[0]!)!.lr, 0.004);
  });

  it('an annealed schedule decays lr over the planned iterations: linear, in epochs; cosine, fitted to the budget', () => {
    const lin = path.join(f.dir, 'linear');
    const common = ['--set', 'schedule.stepFractions=null', '--set', 'schedule.annealing=linear', '--set', 'train.maxMinutes=null', '--set', 'train.epochs=3'];
    const r = cornernet(['train', '--data', f.data, '--work-dir', lin, ...SMALL, ...common]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /schedule: lr annealed \(linear\) to x0 at the last of the run's iterations/);
    const records = trainRecords(lin);
    assert.equal(records.length, 12); // 3 epochs of 16 images in batches of 4
    const at = (iter: number) => records.find((x) => x.iter === iter + 1)!.lr;
    // mmcv's linear annealing by iteration, from 4e-3 to 0 at the last of 12 (the 2-iteration warm-up from 1/3 first).
    assert.ok(Math.abs(at(1) - 0.004 * (1 - 1 / 11) * (1 - 0.5 * (2 / 3))) < 1e-12, String(at(1)));
    assert.ok(Math.abs(at(6) - 0.004 * (1 - 6 / 11)) < 1e-12, String(at(6)));
    assert.equal(at(11), 0);
    // With steps, an annealed schedule is refused, naming the key.
    const bad = cornernet(['train', '--data', f.data, '--work-dir', path.join(f.dir, 'bad'), ...SMALL, '--set', 'schedule.annealing=cosine']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /schedule\.stepFractions/);
    // Fitted to a time budget (stepFractions []): the run ends near lr x minLrRatio (exactly there unless a
    // busy machine shortened the plan after its last iteration was fed).
    const cos = path.join(f.dir, 'cosine');
    const c = cornernet(['train', '--data', f.data, '--work-dir', cos, '--max-minutes', '0.2', ...SMALL,
      '--set', 'schedule.stepFractions=[]', '--set', 'schedule.annealing=cosine', '--set', 'schedule.minLrRatio=0.05']);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stderr, /budget: \d+ iterations \([\d.]+ epochs\) fit, .*; lr annealed to iteration \d+/);
    const last = trainRecords(cos).at(-1)!;
    assert.ok(last.lr >= 0.004 * 0.05 - 1e-12 && last.lr < 0.004 * 0.2, `last lr ${last.lr}`);
  });
});
