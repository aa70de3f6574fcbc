// `cornernet eval` as a user runs it: a child process on the fixture files.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

const ROOT = join(__dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'cornernet.js');
const CASE = join(ROOT, 'test', 'fixtures', 'cocoeval', 'case05');

function cornernet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cornernet eval', () => {
  const gt = join(CASE, 'gt.json');
  const dt = join(CASE, 'dt.json');
  const expected = JSON.parse(readFileSync(join(CASE, 'expected.json'), 'utf8')) as { stats: number[] };

  it('--json prints the 12 stats and per-category AP', () => {
    const r = cornernet('eval', '--gt', gt, '--dt', dt, '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { stats: number[]; statNames: string[]; perCategory: { id: number; name: string; ap: number }[] };
    assert.equal(out.stats.length, 12);
    out.stats.forEach((v, i) => assert.ok(Math.abs(v - expected.stats[i]!) <= 1e-12, `stats[${i}] ${v} vs ${expected.stats[i]}`));
    assert.equal(out.statNames[0], 'AP');
    assert.deepEqual(out.perCategory.map((c) => c.id), [3, 29, 59, 60, 76, 83]);
    // Category 60 is listed without annotations (see the fixture's description).
    assert.equal(out.perCategory.find((c) => c.id === 60)!.ap, -1);
  });

  it('prints the summary lines and the per-category table', () => {
    const r = cornernet('eval', '--gt', gt, '--dt', dt);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.240');
    assert.equal(lines[11], ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.246');
    assert.equal(lines[12], '');
    assert.match(lines[13]!, /^ id {2}name +AP@\[ IoU=0\.50:0\.95 \| area=all \| maxDets=100 \]$/);
    assert.match(lines[17]!, /^ 60 {2}class_60 +-1\.000$/);
  });

  it('fails with the file, index and field of a bad detection', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cornernet-eval-'));
    try {
      const bad = join(dir, 'dt.json');
      writeFileSync(bad, JSON.stringify([{ image_id: 10849, category_id: 3, bbox: [0, 0, 1], score: 1 }]));
      const r = cornernet('eval', '--gt', gt, '--dt', bad);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `cornernet: ${bad}: [0].bbox must be 4 finite numbers [x,y,w,h] (got [0,0,1])\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('requires --gt and --dt', () => {
    const r = cornernet('eval', '--gt', gt);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cornernet: Missing required argument: dt\n$/);
  });
});
