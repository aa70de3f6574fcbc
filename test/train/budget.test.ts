import { strict as assert } from 'assert';

import { BudgetPlanner, countPlan, evaluationsAhead, itersThatFit, placeSteps, type TimeFit } from '../../lib/train/budget';
import { learningRate } from '../../lib/train/schedule';

describe('train/budget', () => {
  it('places steps at fractions of the run, never moving one already fed', () => {
    assert.deepEqual(placeSteps([0.86], 1000), [860]);
    assert.deepEqual(placeSteps([0.5, 0.9], 100), [50, 90]);
    // Shrunk to 400 after 450 were fed: both steps, not fed yet, come at once.
    assert.deepEqual(placeSteps([0.5, 0.9], 400, 450, [500, 900]), [450, 450]);
    // A step already fed stays where it was; the later one moves.
    assert.deepEqual(placeSteps([0.5, 0.9], 2000, 600, [500, 900]), [500, 1800]);
  });

  it('plans by epochs without a time budget; every step comes before the last iteration', () => {
    assert.deepEqual(countPlan([0.86], 1250), { totalIters: 1250, stepIters: [1075], limit: 'epochs' });
    assert.deepEqual(countPlan([], 1250), { totalIters: 1250, stepIters: [], limit: 'epochs' });
    // round(0.86 x 3) would be the end of the run: the step comes one iteration before; a 1-iteration run has none.
    assert.deepEqual(countPlan([0.86], 3).stepIters, [2]);
    assert.deepEqual(countPlan([0.86], 1).stepIters, [1]);
  });

  it('takes lr steps at the planned iterations instead of epochs', () => {
    const s = { lr: 4e-3, steps: [1], gamma: 0.1, warmupIters: 0, warmupRatio: 1 };
    assert.equal(learningRate(s, 859, 5, [860]), 4e-3);
    assert.ok(Math.abs(learningRate(s, 860, 0, [860]) - 4e-4) < 1e-12);
    // Without step iterations the epoch steps apply as before.
    assert.ok(Math.abs(learningRate(s, 0, 1) - 4e-4) < 1e-12);
  });

  const fit: TimeFit = {
    budgetSeconds: 600, elapsedSeconds: 20, itersDone: 10, itersFed: 12, secondsPerIter: 0.5, evalSeconds: 15, finishSeconds: 5,
    safety: 1, itersPerEpoch: 100, epochs: 1000, intervalEpochs: 1000, capIters: 100000,
  };

  it('fits the iterations left after the final evaluation and the finish', () => {
    // 600 - 20 - 15 - 5 = 560 s of training at 0.5 s: 1120 more than the 10 done.
    assert.equal(itersThatFit(fit), 1130);
    // A safety share leaves some of the time unplanned.
    assert.equal(itersThatFit({ ...fit, safety: 0.5 }), 570);
    // The cap bounds it; nothing ends before what was fed.
    assert.equal(itersThatFit({ ...fit, capIters: 400 }), 400);
    assert.equal(itersThatFit({ ...fit, elapsedSeconds: 599 }), 12);
  });

  it('reserves the evaluations the run will still meet on the way', () => {
    const t = { ...fit, intervalEpochs: 2 };
    // Evaluations at the ends of epochs 2, 4, 6, ... (iterations 200, 400, ...), none at the run's own end.
    assert.equal(evaluationsAhead(t, 200), 0);
    assert.equal(evaluationsAhead(t, 201), 1);
    assert.equal(evaluationsAhead({ ...t, itersDone: 250 }, 650), 2);
    // 1130 without them; with the 4 at 200..800 (15 s, 30 iterations each) 1000 fit, where the final one is.
    const n = itersThatFit(t);
    assert.equal(n, 1000);
    assert.ok(evaluationsAhead(t, n) === 4 && (n - 10) * 0.5 + 4 * 15 <= 560 && (n + 1 - 10) * 0.5 + evaluationsAhead(t, n + 1) * 15 > 560);
  });

  it('decides the run\'s length once a few steps are measured, then only shortens it, keeping the lr of fed iterations', () => {
    const cap = countPlan([0.86], 100000);
    const p = new BudgetPlanner({
      fractions: [0.86], cap, budgetSeconds: 100, startedAt: 0, itersPerEpoch: 1000, epochs: 100, intervalEpochs: 1000, evalSeconds: 10,
      finishSeconds: 0, safety: 1, measureSeconds: 0,
    });
    // Steps of 0.1 s from t = 10 s; the first two are not measured.
    let t = 10000;
    for (let k = 1; k <= 4; k++) {
      p.stepDone(k, (t += 100));
      assert.equal(p.replan(k + 2, k, t), false, `step ${k}: not measured yet`);
    }
    assert.equal(p.plan.totalIters, 100000);
    p.stepDone(5, (t += 100));
    assert.equal(p.replan(7, 5, t), true);
    // 100 - 10.5 - 10 = 79.5 s at 0.1 s: 795 more after 5.
    assert.deepEqual(p.plan, { totalIters: 800, stepIters: [688], limit: 'max-minutes', timeFitted: true });
    // Decided: running a little ahead (under 3 %) does not move it.
    for (let k = 6; k <= 20; k++) p.stepDone(k, (t += 99));
    assert.equal(p.replan(22, 20, t), false);
    assert.equal(p.plan.totalIters, 800);
    // An evaluation's time does not count as training time; the machine then slows down to 0.2 s.
    p.pause(5000);
    t += 5000;
    for (let k = 21; k <= 700; k++) p.stepDone(k, (t += 200));
    p.replan(702, 700, t);
    assert.equal(p.plan.stepIters[0], 688, 'a step already fed stays');
    assert.ok(p.plan.totalIters < 800);
    assert.ok(p.secondsPerIter()! > 0.19 && p.secondsPerIter()! < 0.2);
    // Its step fed, a faster machine no longer lengthens it.
    const shortened = p.plan.totalIters;
    for (let k = 701; k <= 710; k++) p.stepDone(k, (t += 1));
    assert.equal(p.replan(712, 710, t), false);
    assert.equal(p.plan.totalIters, shortened);
  });

  it('lengthens a decided plan while its lr step is still ahead and the run is well ahead of it', () => {
    const p = new BudgetPlanner({
      fractions: [0.86], cap: countPlan([0.86], 100000), budgetSeconds: 100, startedAt: 0, itersPerEpoch: 1000, epochs: 100, intervalEpochs: 1000,
      evalSeconds: 10, finishSeconds: 0, safety: 1, measureSeconds: 0,
    });
    // A slow measurement window (0.1 s steps) decides 800 iterations, as above...
    let t = 10000;
    for (let k = 1; k <= 5; k++) {
      p.stepDone(k, (t += 100));
      p.replan(k + 2, k, t);
    }
    assert.deepEqual(p.plan, { totalIters: 800, stepIters: [688], limit: 'max-minutes', timeFitted: true });
    // ... then steps of 0.05 s: the average falls, more fits, and the unfed step moves with the end.
    for (let k = 6; k <= 200; k++) p.stepDone(k, (t += 50));
    assert.equal(p.replan(202, 200, t), true);
    const grown = p.plan;
    assert.ok(grown.totalIters > 800 * 1.03, `grew to ${grown.totalIters}`);
    assert.deepEqual(grown.stepIters, [Math.round(0.86 * grown.totalIters)]);
    assert.equal(grown.limit, 'max-minutes');
    // Never past the epochs' cap.
    const capped = new BudgetPlanner({
      fractions: [0.86], cap: countPlan([0.86], 900), budgetSeconds: 100, startedAt: 0, itersPerEpoch: 100, epochs: 9, intervalEpochs: 1000,
      evalSeconds: 10, finishSeconds: 0, safety: 1, measureSeconds: 0,
    });
    t = 10000;
    for (let k = 1; k <= 5; k++) {
      capped.stepDone(k, (t += 100));
      capped.replan(k + 2, k, t);
    }
    assert.equal(capped.plan.totalIters, 800);
    for (let k = 6; k <= 200; k++) capped.stepDone(k, (t += 20));
    capped.replan(202, 200, t);
    assert.equal(capped.plan.totalIters, 900);
    assert.equal(capped.plan.limit, 'epochs');
  });

  it('measures over a tenth of the budget (at most 30 s) before deciding', () => {
    const make = (budgetSeconds: number) =>
      new BudgetPlanner({
        fractions: [0.86], cap: countPlan([0.86], 100000), budgetSeconds, startedAt: 0, itersPerEpoch: 1000, epochs: 100,
        intervalEpochs: 1000, evalSeconds: 1,
      });
    const decidedAfter = (p: BudgetPlanner) => {
      for (let k = 1; ; k++) {
        p.stepDone(k, k * 1000);
        if (p.replan(k + 2, k, k * 1000)) return k;
      }
    };
    // 1 s steps, measured from the end of step 2: 3 steps (the minimum) for a 20 s budget, 30 s for 10 minutes.
    assert.equal(decidedAfter(make(20)), 5);
    assert.equal(decidedAfter(make(600)), 32);
  });

  it('keeps a resumed plan unless its own budget cannot hold it', () => {
    const resumed = { totalIters: 800, stepIters: [688], limit: 'max-minutes' as const, timeFitted: true };
    const make = (budgetSeconds: number) =>
      new BudgetPlanner({
        fractions: [0.86], cap: countPlan([0.86], 100000), budgetSeconds, startedAt: 0, itersPerEpoch: 1000, epochs: 100,
        intervalEpochs: 1000, evalSeconds: 1, finishSeconds: 0, safety: 1, resumed,
      });
    const replanAt = (p: BudgetPlanner) => {
      for (let k = 401; k <= 406; k++) p.stepDone(k, k * 100);
      p.replan(408, 406, 406 * 100);
      return p.plan;
    };
    // Plenty of time: the plan stays, though more would fit.
    assert.deepEqual(replanAt(make(1000)), resumed);
    // Too little: shortened, its unfed step moved with it.
    const short = replanAt(make(70));
    assert.ok(short.totalIters < 800 && short.stepIters[0] === Math.max(408, Math.round(0.86 * short.totalIters)));
  });
});
