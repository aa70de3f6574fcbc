// Writes PyTorch checkpoints the way torch.save does, for the tests of the
// reader (lib/io/pth.ts): a protocol-2 pickle writer for the values a
// checkpoint holds, the zip container of torch >= 1.6 (stored entries, as
// torch writes them) and the legacy stream (magic number, protocol version,
// system info, data pickle, storage keys, raw storages). It also writes the
// hostile pickles the reader must refuse.
import * as fs from 'fs';
import * as zlib from 'zlib';

/** What the pickle writer takes. */
export type Py =
  | null
  | boolean
  | number
  | string
  | bigint
  | Py[]
  | { tuple: Py[] }
  | { dict: [Py, Py][] }
  | { float: number }
  | { call: string; args: Py[] }
  | { global: string }
  | { persid: Py }
  | { odict: [Py, Py][] };

export const tuple = (...items: Py[]): Py => ({ tuple: items });
export const dict = (entries: [Py, Py][]): Py => ({ dict: entries });
export const call = (fn: string, ...args: Py[]): Py => ({ call: fn, args });
/** collections.OrderedDict() then SETITEMS, as pickle writes an OrderedDict. */
export const orderedDict = (entries: [Py, Py][]): Py => ({ odict: entries });

export type StorageDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'uint8';
const storageClass: Record<StorageDtype, string> = {
  float32: 'torch.FloatStorage',
  float64: 'torch.DoubleStorage',
  float16: 'torch.HalfStorage',
  bfloat16: 'torch.BFloat16Storage',
  int64: 'torch.LongStorage',
  int32: 'torch.IntStorage',
  uint8: 'torch.ByteStorage',
};
export const elementBytes: Record<StorageDtype, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, uint8: 1 };

export interface Storage {
  key: string;
  dtype: StorageDtype;
  /** Little-endian element bytes. */
  bytes: Buffer;
}

/** A tensor as torch pickles it: _rebuild_tensor_v2 over a storage (offset, size, stride in elements). */
export function tensor(s: Storage, offset: number, shape: number[], stride?: number[], legacyView?: [string, number, number]): Py {
  const contiguous = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const numel = s.bytes.length / elementBytes[s.dtype];
  const pid = legacyView === undefined ? tuple('storage', { global: storageClass[s.dtype] }, s.key, 'cpu', numel) : tuple('storage', { global: storageClass[s.dtype] }, s.key, 'cpu', numel, tuple(...legacyView));
  return call('torch._utils._rebuild_tensor_v2', { persid: pid }, offset, tuple(...shape), tuple(...(stride ?? contiguous)), false, call('collections.OrderedDict'));
}

/** float32 -> float16 bits (round to nearest even), for test values that are exact in float16. */
export function toHalfBits(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const frac = u & 0x7fffff;
  if (((u >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (frac ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (frac | 0x800000) >>> (1 - exp + 13);
    return sign | m;
  }
  return sign | (exp << 10) | (frac >>> 13);
}

export function storageOf(key: string, dtype: StorageDtype, values: ArrayLike<number | bigint>): Storage {
  const n = values.length;
  const b = Buffer.alloc(n * elementBytes[dtype]);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    switch (dtype) {
      case 'float32':
        b.writeFloatLE(Number(v), 4 * i);
        break;
      case 'float64':
        b.writeDoubleLE(Number(v), 8 * i);
        break;
      case 'float16':
        b.writeUInt16LE(toHalfBits(Number(v)), 2 * i);
        break;
      case 'bfloat16': {
        const f = Buffer.alloc(4);
        f.writeFloatLE(Number(v));
        b.writeUInt16LE(f.readUInt16LE(2), 2 * i);
        break;
      }
      case 'int64':
        b.writeBigInt64LE(BigInt(v), 8 * i);
        break;
      case 'int32':
        b.writeInt32LE(Number(v), 4 * i);
        break;
      case 'uint8':
        b.writeUInt8(Number(v), i);
        break;
    }
  }
  return { key, dtype, bytes: b };
}

/** Protocol 2, as torch.save writes (memoisation aside, which the reader needs no help with). */
export function pickle(value: Py, protocol = 2): Buffer {
  const out: Buffer[] = [Buffer.from([0x80, protocol])];
  const u8 = (...b: number[]): void => {
    out.push(Buffer.from(b));
  };
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    out.push(Buffer.from([0x58]), len, b);
  };
  const emit = (v: Py): void => {
    if (v === null) return u8(0x4e);
    if (v === true) return u8(0x88);
    if (v === false) return u8(0x89);
    if (typeof v === 'string') return str(v);
    if (typeof v === 'number' || typeof v === 'bigint') {
      if (typeof v === 'number' && !Number.isInteger(v)) return emit({ float: v });
      const big = BigInt(v);
      if (big >= 0n && big < 256n) return u8(0x4b, Number(big));
      if (big >= -(2n ** 31n) && big < 2n ** 31n) {
        const b = Buffer.alloc(4);
        b.writeInt32LE(Number(big));
        out.push(Buffer.from([0x4a]), b);
        return;
      }
      // LONG1: little-endian two's complement, shortest
      const bytes: number[] = [];
      let x = big;
      for (;;) {
        bytes.push(Number(x & 0xffn));
        x >>= 8n;
        if ((x === 0n && !(bytes[bytes.length - 1]! & 0x80)) || (x === -1n && bytes[bytes.length - 1]! & 0x80)) break;
      }
      return u8(0x8a, bytes.length, ...bytes);
    }
    if (Array.isArray(v)) {
      u8(0x5d, 0x28);
      v.forEach(emit);
      return u8(0x65);
    }
    if ('float' in v) {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v.float);
      out.push(Buffer.from([0x47]), b);
      return;
    }
    if ('tuple' in v) {
      if (v.tuple.length === 0) return u8(0x29);
      u8(0x28);
      v.tuple.forEach(emit);
      return u8(0x74);
    }
    if ('dict' in v || 'odict' in v) {
      const items = 'dict' in v ? v.dict : v.odict;
      if ('odict' in v) emit({ call: 'collections.OrderedDict', args: [] });
      else u8(0x7d);
      if (!items.length) return;
      u8(0x28);
      for (const [k, x] of items) emit(k), emit(x);
      return u8(0x75);
    }
    if ('global' in v) {
      const dot = v.global.lastIndexOf('.');
      out.push(Buffer.from(`c${v.global.slice(0, dot)}\n${v.global.slice(dot + 1)}\n`, 'latin1'));
      return;
    }
    if ('call' in v) {
      emit({ global: v.call });
      emit({ tuple: v.args });
      return u8(0x52);
    }
    emit(v.persid);
    return u8(0x51);
  };
  emit(value);
  u8(0x2e);
  return Buffer.concat(out);
}

/** A zip of stored entries (what torch's writer emits). */
export function zipStored(entries: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name, 'utf8');
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(n.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, n);
    parts.push(local, n, data);
    offset += 30 + n.length + data.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, end]);
}

/** torch >= 1.6: <archive>/data.pkl, <archive>/data/<key>, <archive>/version. */
export function torchZip(root: Py, storages: Storage[], archive = 'archive'): Buffer {
  return zipStored([
    [`${archive}/data.pkl`, pickle(root)],
    ...storages.map((s): [string, Buffer] => [`${archive}/data/${s.key}`, s.bytes]),
    [`${archive}/version`, Buffer.from('3\n')],
  ]);
}

/** The legacy stream (torch < 1.6, or _use_new_zipfile_serialization=False). */
export function torchLegacy(root: Py, storages: Storage[]): Buffer {
  const sysInfo = dict([
    ['protocol_version', 1001],
    ['little_endian', true],
    ['type_sizes', dict([['short', 2], ['int', 4], ['long', 4]])],
  ]);
  const parts = [pickle(0x1950a86a20f9469cfc6cn), pickle(1001), pickle(sysInfo), pickle(root), pickle(storages.map((s) => s.key))];
  for (const s of storages) {
    const n = Buffer.alloc(8);
    n.writeBigInt64LE(BigInt(s.bytes.length / elementBytes[s.dtype]));
    parts.push(n, s.bytes);
  }
  return Buffer.concat(parts);
}

/** A state dict (name -> float32 or int64 data) as contiguous tensors, each on its own storage. */
export function stateDictPy(entries: [string, { data: Float32Array | BigInt64Array; shape: number[] }][], prefix = ''): { value: Py; storages: Storage[] } {
  const storages: Storage[] = [];
  const items: [Py, Py][] = entries.map(([name, t], i) => {
    const s = storageOf(String(i), t.data instanceof BigInt64Array ? 'int64' : 'float32', t.data);
    storages.push(s);
    return [prefix + name, tensor(s, 0, t.shape)];
  });
  return { value: orderedDict(items), storages };
}

export function writeFile(file: string, bytes: Buffer): string {
  fs.writeFileSync(file, bytes);
  return file;
}
