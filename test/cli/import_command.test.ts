// `cornernet import` and .pth --weights as a user runs them (child processes):
// the report, the written weights, and the errors of files that cannot be
// imported (wrong model, truncated, hostile).
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { loadSafetensors } from '../../lib/io/safetensors';
import { stateDictPy, torchLegacy, torchZip, call, dict, writeFile } from '../helpers/torch_writer';
import { cornernet, makeCliFixture, type CliFixture } from './cli_fixture';

describe('cornernet import', function () {
  this.timeout(60_000);
  let f: CliFixture;
  let pth: string;
  before(async () => {
    f = await makeCliFixture('cli-import', { train: 1, val: 2 });
    // The fixture's weights as an mmdet training checkpoint: meta, DataParallel names, optimizer state.
    const st = loadSafetensors(f.weights);
    const sd = stateDictPy([...st.tensors].map(([k, t]) => [k, { data: t.data as Float32Array | BigInt64Array, shape: t.shape }]), 'module.');
    const root = dict([['meta', dict([['epoch', 3]])], ['state_dict', sd.value], ['optimizer', dict([['state', dict([])]])]]);
    pth = writeFile(path.join(f.dir, 'epoch_3.pth'), torchZip(root, sd.storages));
  });
  after(() => fs.rmSync(f.dir, { recursive: true, force: true }));

  it('converts a .pth and reports tensors converted, keys mapped, keys ignored and the architecture', () => {
    const out = path.join(f.dir, 'imported.safetensors');
    const r = cornernet(['import', pth, '--out', out, '--config', 'shapes-tiny']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^read .*epoch_3\.pth \(torch >= 1\.6 zip format\), state_dict under 'state_dict'$/m);
    assert.match(r.stdout, /^key names: MMDetection's \(the reference's\) \(decided from the key names\)$/m);
    assert.match(r.stdout, /^tensors converted: 288 \(float32 244, int64 44\)/m);
    assert.match(r.stdout, /^keys mapped to the reference's names: 0; 'module\.' prefix stripped from 288$/m);
    assert.match(r.stdout, /^keys ignored: meta \(metadata\), optimizer \(optimizer state\)$/m);
    assert.match(r.stdout, /^architecture: 1 stack, 5 classes \(from bbox_head\.tl_heat\.0\.1\.conv\.weight\); all 288 entries match by name and shape$/m);
    const a = loadSafetensors(out), b = loadSafetensors(f.weights);
    assert.deepEqual([...a.tensors.keys()], [...b.tensors.keys()]);
    for (const [k, t] of b.tensors) assert.deepEqual(a.tensors.get(k)!.data, t.data, k);
    assert.deepEqual(JSON.parse(a.metadata!.config!), JSON.parse(b.metadata!.config!));

    const j = cornernet(['import', pth, '--out', out, '--config', 'shapes-tiny', '--json']);
    assert.equal(j.status, 0, j.stderr);
    const rep = JSON.parse(j.stdout) as { format: string; scheme: string; converted: Record<string, number>; ignored: string[]; matched: number };
    assert.equal(rep.format, 'zip');
    assert.equal(rep.scheme, 'mmdet');
    assert.deepEqual(rep.converted, { float32: 244, int64: 44 });
    assert.equal(rep.matched, 288);
  });

  it('detect --weights X.pth gives what detect gives with the same weights as safetensors', () => {
    const img = f.images('val')[0]!;
    const a = cornernet(['detect', '--weights', f.weights, '--score-thr', '0', img]);
    const b = cornernet(['detect', '--weights', pth, '--config', 'shapes-tiny', '--score-thr', '0', img]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assert.ok((JSON.parse(a.stdout) as { detections: unknown[] }[])[0]!.detections.length > 0);
    assert.equal(b.stdout, a.stdout);
    // A .pth records no architecture: --config is asked for by name.
    const c = cornernet(['detect', '--weights', pth, img]);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /--weights .*epoch_3\.pth: this file does not record its architecture; pass --config/);
  });

  it('train --load-from X.pth starts a new run from those weights and writes load_from.json', () => {
    const workDir = path.join(f.dir, 'tuned');
    const r = cornernet([
      'train', '--data', f.data, '--work-dir', workDir, '--load-from', pth, '--max-iters', '1', '--device', 'cpu',
      '--set', 'train.batchSize=1', '--set', 'data.inputSize=64', '--set', 'data.workers=1', '--set', 'evaluation.flip=false',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /load-from .*epoch_3\.pth: loaded 288 of 288 model entries/);
    const rep = JSON.parse(fs.readFileSync(path.join(workDir, 'load_from.json'), 'utf8')) as { loaded: string[]; reinitialised: string[] };
    assert.equal(rep.loaded.length, 288);
    assert.deepEqual(rep.reinitialised, []);
    assert.equal((JSON.parse(fs.readFileSync(path.join(workDir, 'config.json'), 'utf8')) as { train: { loadFrom: string } }).train.loadFrom, pth);
  });

  it('a checkpoint of another model, a truncated one and a hostile one each fail with a clear error and write nothing', () => {
    const out = path.join(f.dir, 'never.safetensors');
    const other = cornernet(['import', pth, '--out', out, '--config', 'hourglass52']);
    assert.equal(other.status, 1);
    assert.match(other.stderr, /^cornernet: .*epoch_3\.pth does not fit the architecture hourglass52 \(5 classes\): \d+ of another shape or type \(backbone\.stem\.0\.conv\.weight \[16, 3, 7, 7\] in the file, \[128, 3, 7, 7\] in the model;/m);
    const resnet = stateDictPy([['fc.weight', { data: new Float32Array(4), shape: [2, 2] }]]);
    const notCornerNet = cornernet(['import', writeFile(path.join(f.dir, 'resnet.pth'), torchLegacy(resnet.value, resnet.storages)), '--out', out]);
    assert.equal(notCornerNet.status, 1);
    assert.match(notCornerNet.stderr, /resnet\.pth: its keys \(fc\.weight\) follow neither MMDetection's names/);
    const asWeights = cornernet(['model', '--weights', path.join(f.dir, 'resnet.pth'), '--config', 'shapes-tiny']);
    assert.equal(asWeights.status, 1);
    assert.match(asWeights.stderr, /--weights .*resnet\.pth does not fit --config shapes-tiny \(nothing was loaded\): 288 entries missing .*1 not in the model \(fc\.weight\)/);
    const whole = fs.readFileSync(pth);
    const cut = cornernet(['import', writeFile(path.join(f.dir, 'cut.pth'), whole.subarray(0, whole.length - 100)), '--out', out]);
    assert.equal(cut.status, 1);
    assert.match(cut.stderr, /cut\.pth: not a readable zip archive \(truncated or corrupt\?\)/);
    const marker = path.join(f.dir, 'pwned');
    const hostile = writeFile(path.join(f.dir, 'hostile.pth'), torchZip(dict([['state_dict', call('os.system', `touch ${marker}`)]]), []));
    for (const args of [['import', hostile, '--out', out], ['model', '--weights', hostile, '--config', 'shapes-tiny']]) {
      const h = cornernet(args);
      assert.equal(h.status, 1);
      assert.equal(h.stderr, `cornernet: ${hostile}: archive/data.pkl: refuses the global os.system: only plain data and tensors are read from a checkpoint, never code (pickle byte 19)\n`);
    }
    assert.equal(fs.existsSync(marker), false);
    assert.equal(fs.existsSync(out), false);
  });
});
