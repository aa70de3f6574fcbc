// The bench table's GPU columns (what `npm run bench` shows beside the CPU
// figures), not their values: speed is never asserted in tests. The GPU path
// runs on the CUDA emulator, forced with the testing option --gpu-backend, at
// the groups' --tiny sizes (the model's rows on a forced CPU backend, the only
// one with all of the model's kernels that runs it in seconds); without a GPU
// the table must carry one line saying why, and no GPU columns.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { OP_TABLE } from '../../bench/op_table';
import { native } from '../../lib/native';
import { availableBackends } from '../../lib/ops';

const runner = path.join(__dirname, '..', '..', 'bench', 'run.js');
const run = (...args: string[]) => spawnSync(process.execPath, [runner, ...args], { encoding: 'utf8', timeout: 120000 });

/** The table's header and rows as cells, cut where the dashed line under the header puts each column. */
function parseTable(stdout: string): { head: string[]; rows: string[][] } {
  const lines = stdout.split('\n');
  const h = lines.findIndex((l) => l.startsWith('group  '));
  assert.ok(h >= 0, `no table in:\n${stdout}`);
  const spans: [number, number][] = [];
  const re = /-+/g;
  for (let m = re.exec(lines[h + 1]!); m; m = re.exec(lines[h + 1]!)) spans.push([m.index, m.index + m[0].length]);
  const cut = (l: string) => spans.map(([a, b]) => l.slice(a, b).trim());
  const rows: string[][] = [];
  for (const l of lines.slice(h + 2)) {
    if (!l.trim() || l.startsWith('note: ') || l.startsWith('FAILED: ')) break;
    rows.push(cut(l));
  }
  return { head: cut(lines[h]!), rows };
}

describe('bench GPU columns (npm run bench beside a GPU)', function () {
  this.timeout(300000);
  const emu = availableBackends().includes('cuda-emu');
  const realGpu = availableBackends().some((b) => b.startsWith('cuda:'));

  it('corner-pool and conv2d on a forced cuda-emu: a cuda-emu column with numbers, device copy and GFLOP/s comparisons', function () {
    if (!emu) this.skip();
    const r = run('--only', 'corner-pool,conv2d', '--gpu-backend', 'cuda-emu', '--tiny');
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /GPU columns: the same work on cuda-emu \(forced with --gpu-backend\)/);
    assert.match(r.stdout, /cuda-emu: the CUDA emulator on the host CPU: NOT a GPU/);
    assert.doesNotMatch(r.stdout, /no GPU found/);
    const { head, rows } = parseTable(r.stdout);
    assert.deepEqual(head.slice(-2), ['cuda-emu', 'cuda-emu compared with']);
    const rowLines = rows.map((c) => c.join(' | '));
    const gpu = (pred: (name: string) => boolean) => rows.filter((c) => pred(c[1]!));

    // corner-pool: every row has a time on cuda-emu; kernel rows compare with a device copy of the same bytes.
    const pool = gpu((n) => /^(memcpy|corner_pool_)/.test(n));
    assert.ok(pool.every((c) => c[0] === 'corner-pool'));
    assert.equal(pool.length, 18, rowLines.join('\n'));
    for (const c of pool) assert.match(c[6]!, /^\d+\.\d+ ms$/, c.join(' | '));
    const copyKernel = pool.find((c) => /^memcpy .*kernel alone/.test(c[1]!))!;
    assert.match(copyKernel[7]!, /^device copy: \d+(\.\d+)? GB\/s read \+ write$/);
    const fwdKernel = pool.find((c) => /^corner_pool_top forward \(kernel alone\)/.test(c[1]!))!;
    assert.match(fwdKernel[7]!, /^\d+\.\d+x a device copy$/);
    const fbCall = pool.find((c) => /^corner_pool_left forward\+backward \(JS call/.test(c[1]!))!;
    assert.match(fbCall[7]!, /^\d+\.\d+x a device copy call$/);

    // conv2d: GPU kernel times and GFLOP/s next to the CPU's.
    const conv = gpu((n) => n.startsWith('conv2d ')).filter((c) => c[0] === 'conv2d');
    assert.equal(conv.length, 2, rowLines.join('\n'));
    for (const c of conv) {
      assert.match(c[6]!, /^\d+\.\d+ ms$/, c.join(' | '));
      assert.match(c[7]!, /^\d+(\.\d+)? GFLOP\/s \(CPU \d+(\.\d+)?\)$/, c.join(' | '));
    }
    assert.match(r.stdout, /note: conv2d: the cuda-emu column times the kernels alone/);
  });

  it('the opt-in ops group: a figure for every entry cuda-emu has kernels for, "no kernel for ..." for the others', function () {
    if (!emu) this.skip();
    const r = run('--only', 'ops', '--gpu-backend', 'cuda-emu', '--tiny');
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const { rows } = parseTable(r.stdout);
    const supports = new Set(native().backendInfo('cuda-emu').supports);
    let timed = 0;
    // decode is timed by the decode group, not here (see bench/ops.ts); --tiny times each
    // entry's first gradient-check case, and cross-backend-only entries (special values) have none.
    for (const e of OP_TABLE.filter((x) => !x.engineOps.includes('decode') && x.cases.test.length > 0)) {
      const mine = rows.filter((c) => c[1]!.startsWith(`${e.name} `));
      assert.ok(mine.length >= 1, `${e.name}: no row`);
      const lacking = e.engineOps.filter((o) => !supports.has(o));
      for (const c of mine) {
        if (lacking.length) assert.match(c[6]!, new RegExp(`^no kernel for ${lacking[0]}`), c.join(' | '));
        else {
          timed++;
          assert.match(c[6]!, /^\d+\.\d+ ms$/, c.join(' | '));
          assert.match(c[7]!, e.engineOps.includes('conv2d_forward') ? / GFLOP\/s \(CPU [\d.]+\)$/ : /^\d+\.\d+x a device copy of its bytes \([\d.]+ GB\/s\)$/, c.join(' | '));
        }
      }
    }
    assert.ok(timed > 0);
  });

  // The model and training rows need every kernel of the model: a CPU backend forced as the "GPU" has
  // them all (and is fast), so their measured path runs here; cuda-emu shows the missing-kernel path.
  it('model and train (--tiny) with a forced backend that has every kernel: ms/img next to the CPU\'s in every row', function () {
    const r = run('--only', 'model,train', '--gpu-backend', 'cpu', '--tiny');
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /cpu: a CPU backend \(cpu\): NOT a GPU, forced to test the GPU columns/);
    const { head, rows } = parseTable(r.stdout);
    assert.deepEqual(head.slice(-2), ['cpu', 'cpu compared with']);
    const all = rows.map((c) => c.join(' | ')).join('\n');
    assert.equal(rows.filter((c) => c[0] === 'model').length, 9, all);
    assert.equal(rows.filter((c) => c[0] === 'train').length, 5, all);
    for (const c of rows) {
      const line = c.join(' | ');
      if (/peak RSS/.test(c[1]!)) {
        assert.match(c[6]!, /^\d+\.\d+ GiB$/, line);
        assert.match(c[7]!, /^host RSS of the GPU run/, line);
      } else if (/page faults/.test(c[1]!)) {
        assert.match(c[6]!, /^\d+(\.\d+)? faults$/, line);
        assert.match(c[7]!, /^host page faults of the GPU run \(CPU run \d+\)$/, line);
      } else if (/waiting for data/.test(c[1]!)) {
        assert.match(c[7]!, /^CPU \d+(\.\d+)? %$/, line);
      } else if (/end to end/.test(c[1]!)) {
        assert.match(c[7]!, /^CPU [\d.]+ s: [\d.]+x (faster|slower)$/, line);
      } else {
        assert.match(c[6]!, /^\d+(\.\d+)? ms\/img$/, line);
        assert.match(c[7]!, /^CPU [\d.]+ ms\/img: [\d.]+x (faster|slower)$/, line);
      }
    }
  });

  it('model (--tiny) on cuda-emu while it lacks kernels the model needs: each cell names the first missing one', function () {
    if (!emu) this.skip();
    const supports = new Set(native().backendInfo('cuda-emu').supports);
    const lacking = (purpose: 'train' | 'test') => native().modelOps(purpose).filter((o) => !supports.has(o));
    // With every kernel there, the model would run on the emulator: minutes, not for a unit test.
    if (!lacking('test').length || !lacking('train').length) this.skip();
    const r = run('--only', 'model', '--gpu-backend', 'cuda-emu', '--tiny');
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const { rows } = parseTable(r.stdout);
    assert.equal(rows.length, 9);
    for (const c of rows) {
      const first = lacking(/eval/.test(c[1]!) ? 'test' : 'train')[0]!;
      assert.ok(c[6]!.startsWith(`no kernel for ${first}`), c.join(' | '));
      assert.equal(c[7], '');
    }
  });

  it('--json keeps each row\'s GPU figure and says which backend it was', function () {
    if (!emu) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cornernet-bench-gpu-'));
    try {
      const file = path.join(dir, 'b.json');
      const r = run('--only', 'corner-pool', '--gpu-backend', 'cuda-emu', '--tiny', '--json', file);
      assert.equal(r.status, 0, r.stderr);
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { gpu: { backend: string; emulated: boolean }; results: { gpu?: { backend: string; value?: number } }[] };
      assert.deepEqual({ backend: doc.gpu.backend, emulated: doc.gpu.emulated }, { backend: 'cuda-emu', emulated: true });
      assert.ok(doc.results.length > 0);
      for (const row of doc.results) {
        assert.equal(row.gpu?.backend, 'cuda-emu');
        assert.ok(Number.isFinite(row.gpu?.value) && row.gpu!.value! > 0, JSON.stringify(row));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a GPU: the same table and one note saying why; with one, its column', function () {
    const r = run('--only', 'corner-pool', '--tiny');
    assert.equal(r.status, 0, r.stderr);
    const { head } = parseTable(r.stdout);
    if (realGpu) {
      assert.match(head[head.length - 1]!, /^cuda:\d+ compared with$/);
      assert.doesNotMatch(r.stdout, /no GPU found/);
    } else {
      assert.deepEqual(head, ['group', 'benchmark', 'value', 'cpu', 'reference / target', 'ratio']);
      const notes = r.stdout.split('\n').filter((l) => /no GPU found/.test(l));
      assert.equal(notes.length, 1, r.stdout);
      // The probe's own reason (native().info().cuda), never the emulator.
      assert.match(notes[0]!, /^note: no GPU found \(.*CUDA.+\): CPU figures only$/);
      assert.doesNotMatch(r.stdout, /cuda-emu/);
    }
  });

  it('a --gpu-backend that cannot run exits 2 and says why before measuring anything', function () {
    const bad = run('--only', 'corner-pool', '--gpu-backend', 'cuda:99', '--tiny');
    assert.equal(bad.status, 2, bad.stdout);
    assert.match(bad.stderr, /^--gpu-backend cuda:99: /);
  });
});
