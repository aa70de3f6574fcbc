// safetensors I/O: bit-exact round trips, the file layout, files written by
// other writers, the reference checkpoint of the parity fixtures, and clear
// errors for damaged files and bad arguments.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  loadSafetensors,
  loadSafetensorsAsync,
  saveSafetensors,
  saveSafetensorsAsync,
  type SafetensorsData,
  type SafetensorsEntry,
} from '../../lib/io/safetensors';
import { parityDir } from '../helpers/parity_dir';

const bytes = (d: SafetensorsData) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);

// A file assembled by hand: u64-LE header length, the header text, the data.
function rawFile(header: string | Buffer, data: Buffer = Buffer.alloc(0), lengthOverride?: bigint): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

describe('io: safetensors', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-safetensors-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(name: string, content: Buffer): string {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  }

  function sample(): Map<string, SafetensorsEntry> {
    const f32 = new Float32Array(8);
    const u32 = new Uint32Array(f32.buffer);
    f32.set([0, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38, Math.PI]);
    u32[7] = 0x7fc12345; // a NaN with a payload: must survive bit for bit
    const m = new Map<string, SafetensorsEntry>();
    m.set('backbone.stem.0.conv.weight', { dtype: 'F32', shape: [2, 2, 2], data: f32 });
    m.set('backbone.stem.0.bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.from([123456789012345n]) });
    m.set('extremes', { dtype: 'I64', shape: [3], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 0n]) });
    m.set('f64', { dtype: 'F64', shape: [2], data: Float64Array.from([1 / 3, -1e-310]) });
    m.set('i32', { dtype: 'I32', shape: [1, 3], data: Int32Array.from([-2147483648, 7, 2147483647]) });
    m.set('empty', { dtype: 'F32', shape: [2, 0, 3], data: new Float32Array(0) });
    m.set('name "quoted" \\ ünï\u0001', { dtype: 'F32', shape: [1], data: Float32Array.from([5]) });
    return m;
  }

  it('round-trips every dtype bit for bit, in order, with metadata', () => {
    const p = path.join(dir, 'rt.safetensors');
    const meta = { config: '{"num_stacks": 2}', note: 'ünïcödé "q" \\ \n', __proto__x: 'plain' };
    const src = sample();
    saveSafetensors(p, src, meta);
    const back = loadSafetensors(p);
    assert.deepStrictEqual([...back.tensors.keys()], [...src.keys()]);
    for (const [name, e] of src) {
      const b = back.tensors.get(name)!;
      assert.strictEqual(b.dtype, e.dtype, name);
      assert.deepStrictEqual(b.shape, e.shape, name);
      assert.strictEqual(b.data.constructor, e.data.constructor, name);
      assert.ok(bytes(b.data).equals(bytes(e.data)), `${name}: bytes differ`);
    }
    assert.deepStrictEqual(back.metadata, meta);
    // Writing what was read gives the same file, byte for byte.
    const p2 = path.join(dir, 'rt2.safetensors');
    saveSafetensors(p2, back.tensors, back.metadata);
    assert.ok(fs.readFileSync(p).equals(fs.readFileSync(p2)));
  });

  it('writes the documented layout: u64-LE length, JSON header padded to 8 bytes, data in order', () => {
    const p = path.join(dir, 'layout.safetensors');
    saveSafetensors(p, new Map([
      ['a', { shape: [2], data: Float32Array.from([1, 2]) }],
      ['b', { shape: [], data: BigInt64Array.from([7n]) }],
    ]));
    const f = fs.readFileSync(p);
    const n = Number(f.readBigUInt64LE(0));
    assert.strictEqual((8 + n) % 8, 0);
    const header = JSON.parse(f.toString('utf8', 8, 8 + n));
    assert.deepStrictEqual(header, {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'I64', shape: [], data_offsets: [8, 16] },
    });
    assert.strictEqual(f.length, 8 + n + 16);
    assert.strictEqual(f.readFloatLE(8 + n + 4), 2);
    assert.strictEqual(f.readBigInt64LE(8 + n + 8), 7n);
    assert.deepStrictEqual(fs.readdirSync(dir).filter((x) => x.includes('.tmp-')), [], 'no temporary file left');
  });

  it('reads files from other writers (key order, whitespace, escapes, no padding)', () => {
    const data = Buffer.alloc(12 + 8);
    data.writeFloatLE(1.5, 0);
    data.writeFloatLE(-2.5, 4);
    data.writeFloatLE(3.5, 8);
    data.writeBigInt64LE(-5n, 12);
    const header = JSON.stringify({
      'z\u0001\u00e9': { data_offsets: [12, 20], shape: [], dtype: 'I64' },
      __metadata__: { format: 'pt', 'k\ud83d\ude00': '\u00e9\n' },
      w: { shape: [3, 1], dtype: 'F32', data_offsets: [0, 12] },
    }).replace(/,/g, ' ,\n ');
    const f = loadSafetensors(write('other.safetensors', rawFile(header, data)));
    assert.deepStrictEqual([...f.tensors.keys()], ['z\u0001\u00e9', 'w']);
    assert.deepStrictEqual(Array.from(f.tensors.get('w')!.data as Float32Array), [1.5, -2.5, 3.5]);
    assert.deepStrictEqual(f.tensors.get('w')!.shape, [3, 1]);
    assert.strictEqual((f.tensors.get('z\u0001\u00e9')!.data as BigInt64Array)[0], -5n);
    assert.deepStrictEqual(f.metadata, { format: 'pt', 'k\ud83d\ude00': '\u00e9\n' });
  });

  it('loads the reference checkpoint of the parity fixtures: 540 entries, I64 0-d num_batches_tracked', async () => {
    const p = path.join(parityDir, 'weights.safetensors');
    const f = await loadSafetensorsAsync(p);
    assert.strictEqual(f.tensors.size, 540);
    const config = JSON.parse(f.metadata!.config!);
    assert.strictEqual(config.num_stacks, 2);
    assert.deepStrictEqual(config.stage_channels, [8, 16, 12]);
    let trainable = 0, counters = 0;
    for (const [name, e] of f.tensors) {
      if (name.endsWith('.num_batches_tracked')) {
        counters++;
        assert.strictEqual(e.dtype, 'I64', name);
        assert.deepStrictEqual(e.shape, [], name);
        assert.ok(e.data instanceof BigInt64Array && e.data.length === 1);
      } else {
        assert.strictEqual(e.dtype, 'F32', name);
        if (!/running_(mean|var)$/.test(name)) trainable += e.data.length;
      }
    }
    assert.ok(counters > 0);
    assert.strictEqual(trainable, 418444, 'trainable parameters per the fixture README');
    assert.deepStrictEqual(f.tensors.get('bbox_head.tl_heat.0.1.conv.bias')!.shape, [3]);
    const sync = loadSafetensors(p);
    assert.ok(bytes(sync.tensors.get('backbone.stem.0.conv.weight')!.data).equals(bytes(f.tensors.get('backbone.stem.0.conv.weight')!.data)));
  });

  describe('damaged files give errors naming the file and the tensor', () => {
    const okHeader = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const cases: [string, () => Buffer, RegExp][] = [
      ['a file shorter than 8 bytes', () => Buffer.from([1, 2, 3]), /is truncated: 3 bytes/],
      ['a header length past the end', () => rawFile(okHeader, Buffer.alloc(8), 1000n), /header length 1000 runs past the end of the file/],
      ['a truncated data section', () => rawFile(okHeader, Buffer.alloc(5)), /tensor 'w': data_offsets \[0, 8\] run past the end of the data \(5 bytes\); the file is truncated/],
      ['bad JSON', () => rawFile('{"w":{"dtype":"F32",', Buffer.alloc(8)), /bad JSON in the header: .* at byte 20/],
      ['trailing garbage after the JSON', () => rawFile(okHeader + 'x', Buffer.alloc(8)), /unexpected data after the JSON value/],
      ['a header that is not UTF-8', () => rawFile(Buffer.concat([Buffer.from('{"w'), Buffer.from([0xc0, 0xaf]), Buffer.from('":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}')]), Buffer.alloc(8)), /the header is not valid UTF-8 at byte 3/],
      ['a header that is not an object', () => rawFile('[1,2]', Buffer.alloc(8)), /does not start with '\{'/],
      ['a duplicate tensor', () => rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', Buffer.alloc(8)), /duplicate key "w"/],
      ['a dtype/shape mismatch', () => rawFile('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', Buffer.alloc(8)), /tensor 'w': dtype F32 and shape \[3\] need 12 bytes but data_offsets \[0, 8\] hold 8/],
      ['an unsupported dtype', () => rawFile('{"w":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}', Buffer.alloc(8)), /tensor 'w': dtype 'F16' is not supported/],
      ['a negative dimension', () => rawFile('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', Buffer.alloc(8)), /tensor 'w': 'shape' must hold non-negative integers/],
      ['overlapping tensors', () => rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', Buffer.alloc(12)), /tensors 'a' and 'b' overlap/],
      ['a gap between tensors', () => rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', Buffer.alloc(12)), /bytes \[4, 8\) before tensor 'b' belong to no tensor/],
      ['bytes past the last tensor', () => rawFile(okHeader, Buffer.alloc(12)), /the data section has 12 bytes but the tensors cover 8/],
      ['offsets that end before they begin', () => rawFile('{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', Buffer.alloc(8)), /tensor 'w': data_offsets \[8, 0\] end before they begin/],
      ['a metadata value that is not a string', () => rawFile('{"__metadata__":{"epoch":3},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', Buffer.alloc(8)), /__metadata__ entry 'epoch' must be a string/],
    ];
    for (const [what, make, expected] of cases) {
      it(what, async () => {
        const p = write(`bad-${what.replace(/\W+/g, '_')}.safetensors`, make());
        assert.throws(() => loadSafetensors(p), (e: Error) => {
          assert.match(e.message, expected);
          assert.ok(e.message.includes(p), `the message names the file: ${e.message}`);
          return true;
        });
        await assert.rejects(loadSafetensorsAsync(p), expected);
      });
    }

    it('a real checkpoint cut short', () => {
      const full = fs.readFileSync(path.join(parityDir, 'weights.safetensors'));
      const p = write('cut.safetensors', full.subarray(0, full.length - 100));
      assert.throws(() => loadSafetensors(p), /run past the end of the data .*truncated/);
    });

    it('a missing file', () => {
      assert.throws(() => loadSafetensors(path.join(dir, 'nope.safetensors')), /cannot open safetensors file '.*nope\.safetensors': No such file/);
    });
  });

  describe('bad arguments to save', () => {
    it('data that does not fit the shape names the tensor', () => {
      assert.throws(() => saveSafetensors(path.join(dir, 'x.safetensors'), new Map([['w', { shape: [3], data: new Float32Array(2) }]])),
        /tensor 'w': shape \[3\] needs 3 elements, data has 2/);
    });
    it('a dtype that does not match the typed array', () => {
      assert.throws(() => saveSafetensors(path.join(dir, 'x.safetensors'), new Map([['w', { dtype: 'I64', shape: [2], data: new Float32Array(2) }]])),
        /tensor 'w': dtype I64 needs data as a BigInt64Array/);
    });
    it('duplicate and reserved names', () => {
      const e = { shape: [1], data: new Float32Array(1) };
      assert.throws(() => saveSafetensors(path.join(dir, 'x.safetensors'), [['w', e], ['w', e]]), /tensor 'w' appears twice/);
      assert.throws(() => saveSafetensors(path.join(dir, 'x.safetensors'), [['__metadata__', e]]), /'__metadata__' is reserved/);
    });
    it('an unwritable folder fails without leaving anything behind, and the old file survives a failed write', () => {
      assert.throws(() => saveSafetensors(path.join(dir, 'no-such-dir', 'x.safetensors'), new Map()), /cannot create '.*no-such-dir.*': No such file/);
      const p = path.join(dir, 'keep.safetensors');
      saveSafetensors(p, new Map([['w', { shape: [1], data: Float32Array.from([1]) }]]));
      const before = fs.readFileSync(p);
      assert.throws(() => saveSafetensors(p, new Map([['w', { shape: [2], data: new Float32Array(1) }]])));
      assert.ok(fs.readFileSync(p).equals(before));
      assert.deepStrictEqual(fs.readdirSync(dir).filter((x) => x.includes('.tmp-')), []);
    });
  });

  it('async save and load match the sync forms', async () => {
    const p = path.join(dir, 'async.safetensors');
    await saveSafetensorsAsync(p, sample(), { a: 'b' });
    const q = path.join(dir, 'sync.safetensors');
    saveSafetensors(q, sample(), { a: 'b' });
    assert.ok(fs.readFileSync(p).equals(fs.readFileSync(q)));
    const f = await loadSafetensorsAsync(p);
    assert.strictEqual(f.tensors.size, sample().size);
  });
});
