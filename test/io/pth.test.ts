// The PyTorch checkpoint reader (lib/io/pth.ts, lib/io/pickle.ts) and the
// weights it gives (lib/io/torch_import.ts, lib/io/weights.ts), on files written
// by test/helpers/torch_writer.ts; where /usr/bin/python3 has torch, also on
// files torch itself wrote (skipped otherwise).
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { importWeights } from '../../lib/io/import_weights';
import { unpickle } from '../../lib/io/pickle';
import { checkpointGlobals, openTorchFile, type TensorRef, type TorchTensor } from '../../lib/io/pth';
import { importTorchCheckpoint } from '../../lib/io/torch_import';
import { saveSafetensors } from '../../lib/io/safetensors';
import { loadWeights } from '../../lib/io/weights';
import { Model, type StateDict } from '../../lib/model';
import { tmpDir } from '../data/coco_fixture';
import { call, dict, orderedDict, pickle, stateDictPy, storageOf, tensor, torchLegacy, torchZip, tuple, writeFile, zipStored, type Py } from '../helpers/torch_writer';

const CLASSES = ['circle', 'rectangle', 'triangle', 'diamond', 'cross'];

function assertSameStateDict(got: StateDict, want: StateDict, what: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: keys`);
  for (const [k, w] of Object.entries(want)) {
    assert.deepEqual(got[k]!.shape, w.shape, `${what}: ${k} shape`);
    assert.equal(got[k]!.data.constructor, w.data.constructor, `${what}: ${k} type`);
    assert.ok(Buffer.from(got[k]!.data.buffer, got[k]!.data.byteOffset, got[k]!.data.byteLength).equals(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)), `${what}: ${k} values`);
  }
}

/** A training checkpoint as mmdet writes it: meta, a DataParallel state_dict, optimizer state. */
function mmdetCheckpoint(sd: StateDict): { value: Py; storages: ReturnType<typeof stateDictPy>['storages'] } {
  const { value, storages } = stateDictPy(Object.entries(sd), 'module.');
  const moment = storageOf('moment', 'float32', [0.25, 0.5]);
  const root = dict([
    ['meta', dict([['mmdet_version', '2.25.0'], ['CLASSES', tuple(...CLASSES)], ['epoch', 12], ['time', 'Mon Aug 24 2020']])],
    ['state_dict', value],
    ['optimizer', dict([['state', dict([[0, dict([['step', 10], ['exp_avg', tensor(moment, 0, [2])]])]])], ['param_groups', [dict([['lr', 5e-4], ['betas', tuple(0.9, 0.999)], ['amsgrad', false], ['params', [0]]])]]])],
  ]);
  return { value: root, storages: [...storages, moment] };
}

async function readAll(file: string): Promise<Map<string, TorchTensor>> {
  const tf = await openTorchFile(file);
  try {
    const root = tf.root as Map<string, unknown>;
    const sd = (root.get('state_dict') ?? root) as Map<string, TensorRef>;
    const tensors = await tf.readTensors([...sd.values()]);
    return new Map([...sd.keys()].map((k, i) => [k, tensors[i]!]));
  } finally {
    tf.close();
  }
}

describe('io/pth: PyTorch checkpoints without Python', () => {
  let dir: string;
  before(() => {
    dir = tmpDir('pth');
  });

  it('zip and legacy checkpoints give the state_dict they were written from, as .pth --weights and through cornernet import', async () => {
    const model = new Model('shapes-tiny', { seed: 3 });
    const sd = model.stateDict();
    const ck = mmdetCheckpoint(sd);
    for (const [format, bytes] of [['zip', torchZip(ck.value, ck.storages)], ['legacy', torchLegacy(ck.value, ck.storages)]] as const) {
      const file = writeFile(path.join(dir, `ck-${format}.pth`), bytes);
      const w = await loadWeights(file);
      assertSameStateDict(w.stateDict, sd, `${format} .pth`);
      assert.equal(w.imported?.format, format);
      assert.equal(w.imported?.scheme, 'mmdet');
      assert.equal(w.imported?.prefixStripped, Object.keys(sd).length);
      assert.deepEqual(w.imported?.ignored, ['meta (metadata)', 'optimizer (optimizer state)']);
      assert.deepEqual(w.classNames, CLASSES);
      assert.equal(w.modelConfig, null, 'a .pth records no architecture');
      const out = path.join(dir, `ck-${format}.safetensors`);
      const r = await importWeights({ checkpoint: file, out, config: 'shapes-tiny' });
      assert.equal(r.matched, Object.keys(sd).length);
      const back = await loadWeights(out);
      assertSameStateDict(back.stateDict, sd, `${format} imported`);
      assert.deepEqual(back.modelConfig, model.config);
      assert.deepEqual(back.classNames, CLASSES);
      assert.equal(back.input, null, 'MMDetection weights take the reference normalisation');
    }
  });

  it('float16, bfloat16, float64 and int64 storages, storage offsets and strided views come out contiguous', async () => {
    const f16 = storageOf('h', 'float16', [0.5, -2, 1024, 65504, 2 ** -24, 0.0009765625]);
    const bf16 = storageOf('b', 'bfloat16', [1.5, -256, 0.09375, 3.3895313892515355e38]);
    const f64 = storageOf('d', 'float64', [0.1, -1e10]);
    const i64 = storageOf('l', 'int64', [2n ** 40n, -5n, 0n]);
    const base = storageOf('f', 'float32', Array.from({ length: 12 }, (_, i) => i));
    const entries: [Py, Py][] = [
      ['half', tensor(f16, 0, [2, 3])],
      ['half_t', tensor(f16, 0, [3, 2], [1, 3])], // the transpose of `half`
      ['bf16', tensor(bf16, 0, [4])],
      ['f64', tensor(f64, 0, [2])],
      ['i64', tensor(i64, 0, [3])],
      ['scalar', tensor(i64, 1, [])],
      ['offset', tensor(base, 2, [2, 3])],
      ['transposed', tensor(base, 0, [4, 3], [1, 4])],
      ['every_other', tensor(base, 1, [2, 3], [6, 2])],
      ['empty', tensor(base, 0, [0, 3])],
    ];
    const want: Record<string, [string, number[], (number | bigint)[]]> = {
      half: ['float16', [2, 3], [0.5, -2, 1024, 65504, 2 ** -24, 0.0009765625]],
      half_t: ['float16', [3, 2], [0.5, 65504, -2, 2 ** -24, 1024, 0.0009765625]],
      bf16: ['bfloat16', [4], [1.5, -256, 0.09375, 3.3895313892515355e38]],
      f64: ['float64', [2], [0.1, -1e10]],
      i64: ['int64', [3], [2n ** 40n, -5n, 0n]],
      scalar: ['int64', [], [-5n]],
      offset: ['float32', [2, 3], [2, 3, 4, 5, 6, 7]],
      transposed: ['float32', [4, 3], [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]],
      every_other: ['float32', [2, 3], [1, 3, 5, 7, 9, 11]],
      empty: ['float32', [0, 3], []],
    };
    const storages = [f16, bf16, f64, i64, base];
    for (const [format, bytes] of [['zip', torchZip(orderedDict(entries), storages)], ['legacy', torchLegacy(orderedDict(entries), storages)]] as const) {
      const got = await readAll(writeFile(path.join(dir, `dtypes-${format}.pth`), bytes));
      for (const [k, [dtype, shape, values]] of Object.entries(want)) {
        const t = got.get(k)!;
        assert.equal(t.dtype, dtype, `${format} ${k}`);
        assert.deepEqual(t.shape, shape, `${format} ${k}`);
        assert.deepEqual(Array.from(t.data as ArrayLike<number | bigint>), values, `${format} ${k}`);
      }
    }
    // A legacy storage view (root key, offset, size), as torch < 1.0 wrote slices of one storage.
    const legacyView = tensor(base, 1, [2, 2], undefined, ['view', 4, 6]);
    const got = await readAll(writeFile(path.join(dir, 'legacy-view.pth'), torchLegacy(orderedDict([['v', legacyView]]), [base])));
    assert.deepEqual(Array.from(got.get('v')!.data as Float32Array), [5, 6, 7, 8]);
  });

  it('reads what torch.save wrote (zip and legacy), when /usr/bin/python3 has torch', async function () {
    const script = `
import torch, json, collections, sys
sd = collections.OrderedDict()
sd['module.w'] = torch.arange(12, dtype=torch.float32).reshape(3, 4)
sd['module.h'] = (torch.arange(6, dtype=torch.float16) / 4).reshape(2, 3).t()
sd['module.b'] = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
sd['module.n'] = torch.tensor(7)
sd['module.v'] = torch.arange(10, dtype=torch.float32)[3:9].view(2, 3)
ck = {'meta': {'CLASSES': ('a', 'b')}, 'state_dict': sd}
torch.save(ck, sys.argv[1] + '/torch-zip.pth')
torch.save(ck, sys.argv[1] + '/torch-legacy.pth', _use_new_zipfile_serialization=False)
json.dump({k: [str(v.dtype).split('.')[1], list(v.shape), v.contiguous().view(-1).tolist()] for k, v in sd.items()}, open(sys.argv[1] + '/torch.json', 'w'))
`;
    const r = fs.existsSync('/usr/bin/python3') ? spawnSync('/usr/bin/python3', ['-c', script, dir], { encoding: 'utf8' }) : null;
    if (!r || r.status !== 0) return this.skip();
    const want = JSON.parse(fs.readFileSync(path.join(dir, 'torch.json'), 'utf8')) as Record<string, [string, number[], number[]]>;
    for (const f of ['torch-zip.pth', 'torch-legacy.pth']) {
      const got = await readAll(path.join(dir, f));
      for (const [k, [dtype, shape, values]] of Object.entries(want)) {
        const t = got.get(k)!;
        assert.equal(t.dtype, dtype, `${f} ${k}`);
        assert.deepEqual(t.shape, shape, `${f} ${k}`);
        assert.deepEqual(Array.from(t.data as ArrayLike<number | bigint>, Number), values, `${f} ${k}`);
      }
      const w = await importTorchCheckpoint(path.join(dir, f), { from: 'mmdet' });
      assert.deepEqual(Object.keys(w.stateDict), ['w', 'h', 'b', 'n', 'v']);
      assert.deepEqual(w.classNames, ['a', 'b']);
    }
  });

  it('reads a checkpoint whose zip entries are deflated (re-zipped by a tool), when python3 is there', async function () {
    const sd = new Model('shapes-tiny', { seed: 4 }).stateDict();
    const ck = mmdetCheckpoint(sd);
    const stored = writeFile(path.join(dir, 'stored.pth'), torchZip(ck.value, ck.storages));
    const deflated = path.join(dir, 'deflated.pth');
    const script = 'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as a, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as b:\n    [b.writestr(i.filename, a.read(i)) for i in a.infolist()]';
    if (spawnSync('python3', ['-c', script, stored, deflated]).status !== 0) return this.skip();
    assert.ok(fs.statSync(deflated).size < fs.statSync(stored).size, 'the entries are compressed');
    assertSameStateDict((await loadWeights(deflated)).stateDict, sd, 'deflated');
  });

  it('safetensors whose header length starts like a pickle (0x80 0x02) are still read as safetensors', async () => {
    const file = path.join(dir, 'looks-like-pickle.safetensors');
    const t = { data: new Float32Array([1, 2]), shape: [2] };
    // Pad the metadata until the header length is 0x0280 (its bytes: 0x80 0x02 ...); the writer may align it.
    saveSafetensors(file, [['w', t]], { note: '' });
    const bare = Number(fs.readFileSync(file).readBigUInt64LE(0));
    for (let pad = Math.max(0, 0x280 - bare - 8); pad <= 0x280 - bare; pad++) {
      saveSafetensors(file, [['w', t]], { note: 'x'.repeat(pad) });
      if (fs.readFileSync(file).readUInt16LE(0) === 0x0280) break;
    }
    assert.deepEqual([...fs.readFileSync(file).subarray(0, 2)], [0x80, 0x02]);
    const w = await loadWeights(file);
    assert.equal(w.imported, null);
    assert.deepEqual(Array.from(w.stateDict.w!.data as Float32Array), [1, 2]);
  });

  it('a truncated file is an error naming the file', async () => {
    const sd = new Model('shapes-tiny', { seed: 1 }).stateDict();
    const ck = mmdetCheckpoint(sd);
    for (const [format, bytes] of [['zip', torchZip(ck.value, ck.storages)], ['legacy', torchLegacy(ck.value, ck.storages)]] as const) {
      for (const keep of [0.5, 0.999]) {
        const file = writeFile(path.join(dir, `cut-${format}-${keep}.pth`), bytes.subarray(0, Math.floor(bytes.length * keep)));
        await assert.rejects(loadWeights(file), (e: Error) => e.message.includes(file) && /truncated/.test(e.message), `${format} cut at ${keep}`);
      }
    }
    // Cut inside the data pickle of a legacy file.
    const legacy = torchLegacy(ck.value, ck.storages);
    const file = writeFile(path.join(dir, 'cut-pickle.pth'), legacy.subarray(0, 200));
    await assert.rejects(loadWeights(file), /cut-pickle\.pth: data pickle: the file ends inside the pickle .*truncated\?/);
  });

  it('files that are not checkpoints, or not of tensors, say so', async () => {
    const junk = writeFile(path.join(dir, 'junk.pth'), Buffer.from('this is not a checkpoint at all'));
    await assert.rejects(importTorchCheckpoint(junk), /junk\.pth: not a PyTorch checkpoint/);
    const noPkl = writeFile(path.join(dir, 'other.zip.pth'), zipStored([['a/readme.txt', Buffer.from('hi')]]));
    await assert.rejects(importTorchCheckpoint(noPkl), /other\.zip\.pth: a zip archive but not a PyTorch checkpoint: no <archive>\/data\.pkl/);
    const list = writeFile(path.join(dir, 'list.pth'), torchZip([1, 2, 3], []));
    await assert.rejects(importTorchCheckpoint(list), /list\.pth: holds a list of 3, not a dict of tensors/);
    const resnet = stateDictPy([['fc.weight', { data: new Float32Array(4), shape: [2, 2] }], ['conv1.weight', { data: new Float32Array(9), shape: [1, 1, 3, 3] }]]);
    const wrong = writeFile(path.join(dir, 'resnet.pth'), torchZip(resnet.value, resnet.storages));
    await assert.rejects(importTorchCheckpoint(wrong), /resnet\.pth: its keys \(fc\.weight, conv1\.weight\) follow neither MMDetection's names .* pass --from/);
  });

  it('a hostile pickle is refused naming the global it reaches for, and runs nothing', async () => {
    const marker = path.join(dir, 'pwned');
    const system = call('os.system', `touch ${marker}`);
    // Protocol 4 as Python writes it: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL.
    const code = Buffer.from(`open('${marker}', 'w')`);
    const evalPickle = Buffer.concat([
      Buffer.from([0x80, 4, 0x95]), Buffer.alloc(8), Buffer.from([0x8c, 8]), Buffer.from('builtins'), Buffer.from([0x94, 0x8c, 4]), Buffer.from('eval'),
      Buffer.from([0x94, 0x93, 0x94, 0x8c, code.length]), code, Buffer.from([0x94, 0x85, 0x94, 0x52, 0x94, 0x2e]),
    ]);
    const cases: [string, Buffer, RegExp][] = [
      ['os-system.pth', torchZip(dict([['state_dict', dict([['w', system]])]]), []), /os-system\.pth: archive\/data\.pkl: refuses the global os\.system/],
      ['os-system-legacy.pth', torchLegacy(system, []), /os-system-legacy\.pth: data pickle: refuses the global os\.system/],
      ['eval.pth', zipStored([['archive/data.pkl', evalPickle]]), /eval\.pth: archive\/data\.pkl: refuses the global builtins\.eval: only plain data and tensors/],
      // A permitted name used to smuggle a call: storage types are never called.
      ['storage-call.pth', torchZip(call('torch.FloatStorage', 'x'), []), /torch\.FloatStorage is a storage type/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = writeFile(path.join(dir, name), bytes);
      await assert.rejects(loadWeights(file), message, name);
    }
    assert.equal(fs.existsSync(marker), false);
    assert.throws(() => unpickle(pickle(call('subprocess.Popen', ['ls'])), 0, { globals: {}, where: 'x' }), /x: refuses the global subprocess\.Popen/);
  });

  it('the unpickler reads every protocol Python writes (0 to 5), when python3 is there', function () {
    const script = `
import pickle, sys, collections
v = {'ints': [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**63, -2**70], 'floats': [1.5, -0.0, 1e300],
     'strs': ['', 'abc', 'é€😀'], 'bytes': b'\\x00\\xff', 'none': None, 'bools': (True, False), 'nested': ((1,), (1, 2), (1, 2, 3), ()),
     'od': collections.OrderedDict([('x', 1)]), 'set': {7}, 'shared': None}
v['shared'] = v['strs']
sys.stdout.buffer.write(b''.join(len(p).to_bytes(4, 'little') + p for p in (pickle.dumps(v, protocol=k) for k in range(6))))
`;
    const r = spawnSync('python3', ['-c', script]);
    if (r.status !== 0) return this.skip();
    const buf = r.stdout as Buffer;
    for (let pos = 0, protocol = 0; pos < buf.length; protocol++) {
      const n = buf.readUInt32LE(pos);
      const { value, end } = unpickle(buf.subarray(pos + 4, pos + 4 + n), 0, { globals: checkpointGlobals, where: `protocol ${protocol}` });
      assert.equal(end, n);
      pos += 4 + n;
      const d = value as Map<string, unknown>;
      assert.deepEqual(d.get('ints'), [0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31, 2n ** 63n, -(2n ** 70n)], `protocol ${protocol}`);
      assert.deepEqual(d.get('floats'), [1.5, -0, 1e300]);
      assert.deepEqual(d.get('strs'), ['', 'abc', 'é€😀']);
      assert.deepEqual(Array.from(d.get('bytes') as Uint8Array), [0, 255], `protocol ${protocol}`);
      assert.equal(d.get('none'), null);
      assert.deepEqual(d.get('bools'), [true, false]);
      assert.deepEqual(d.get('nested'), [[1], [1, 2], [1, 2, 3], []]);
      assert.ok(d.get('od') instanceof Map);
      assert.deepEqual([...(d.get('set') as Set<number>)], [7]);
      assert.equal(d.get('shared'), d.get('strs'), 'memo: one object, referenced twice');
    }
  });
});
