// The bench runner's command line, not its figures (speed is never asserted in
// tests): every group is listed, the slow ones marked, and bad arguments get a
// clear error and exit status 2 before anything is measured.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';

import { groups } from '../../bench/groups';

const runner = path.join(__dirname, '..', '..', 'bench', 'run.js');
const run = (...args: string[]) => spawnSync(process.execPath, [runner, ...args], { encoding: 'utf8', timeout: 60000 });

describe('bench/run (npm run bench)', () => {
  it('registers every benchmark the issues ask for, under distinct names', () => {
    const names = groups.map((g) => g.name);
    assert.equal(new Set(names).size, names.length);
    for (const n of ['sgemm', 'conv2d', 'corner-pool', 'decode', 'coco-eval', 'data-pipeline', 'data-load', 'model', 'train', 'distributed']) assert.ok(names.includes(n), n);
  });

  it('--list names each group and marks the slow ones that --quick leaves out', () => {
    const r = run('--list');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, groups.length);
    for (const g of groups) {
      const line = lines.find((l) => l.split(/\s+/)[0] === g.name);
      assert.ok(line, g.name);
      assert.equal(/^\S+\s+slow /.test(line), !!g.slow, line);
    }
    assert.deepEqual(groups.filter((g) => g.slow).map((g) => g.name).sort(), ['data-load', 'distributed', 'model', 'train']);
  });

  it('an unknown group or option exits 2 and says what is known', () => {
    const r = run('--only', 'decode,nope');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown benchmark group: nope \(known: .*corner-pool.*\)/);
    const o = run('--fast');
    assert.equal(o.status, 2);
    assert.match(o.stderr, /usage: .*--quick/);
  });
});
