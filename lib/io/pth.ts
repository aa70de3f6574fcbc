// PyTorch checkpoints (torch.save) read without Python: the zip container of
// torch >= 1.6 (`<archive>/data.pkl` + one `<archive>/data/<key>` entry per
// storage, read with yauzl) and the legacy stream of older versions (pickles of
// the magic number, protocol version and system info, the data pickle, the list
// of storage keys, then each storage as an int64 element count and its raw
// bytes). The data pickle goes through the restricted unpickler (pickle.ts):
// dicts, lists, tuples, primitives, OrderedDict and tensors rebuilt from
// storages are all it can build. Storages are read only for the tensors asked
// for (a training checkpoint's optimizer state is never decoded), and views
// (storage offset, strides) come out contiguous. Semantics follow
// torch/serialization.py (_load, _legacy_load) and torch/_utils.py.
import * as fs from 'fs';

import * as yauzl from 'yauzl';

import { isTuple, unpickle, type AllowedGlobals, type PickleGlobal } from './pickle';

export type TorchDtype = 'float64' | 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** float16 / bfloat16 are widened to Float32Array; bool is a Uint8Array of 0/1. */
export type TorchData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface TorchTensor {
  /** The dtype stored in the file. */
  dtype: TorchDtype;
  shape: number[];
  data: TorchData;
}

const storageDtypes: Record<string, TorchDtype> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

const elementSize: Record<TorchDtype, number> = {
  float64: 8, float32: 4, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

interface StorageRef {
  dtype: TorchDtype;
  key: string;
  /** Elements of this storage (a legacy view: of the view). */
  numel: number;
  /** A legacy storage view: its first element in the root storage. */
  base: number;
}

/** A tensor of the pickle before its storage is read. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get dtype(): TorchDtype {
    return this.storage.dtype;
  }
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) throw new Error(`${what} must be a tuple of non-negative integers`);
  return v as number[];
}

function rebuildTensor(args: readonly unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Object) || !('key' in (storage as object))) throw new Error('the first argument is not a storage');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error('the storage offset is not a non-negative integer');
  const shape = intList(size, 'the size');
  const strides = intList(stride, 'the stride');
  if (strides.length !== shape.length) throw new Error(`size ${shape.length}-d and stride ${strides.length}-d differ`);
  return new TensorRef(storage as StorageRef, offset, shape, strides);
}

function storageType(name: string): PickleGlobal['call'] {
  return () => {
    throw new Error(`${name} is a storage type; it is only read as a storage's dtype`);
  };
}

/** What a checkpoint pickle may name; everything else is refused by the unpickler. */
export const checkpointGlobals: AllowedGlobals = {
  // The state is OrderedDict's attribute dict (a state_dict's _metadata: module versions), not needed.
  'collections.OrderedDict': {
    call: (args) => {
      const d = new Map<unknown, unknown>();
      const items = args[0];
      if (Array.isArray(items))
        for (const kv of items) {
          if (!Array.isArray(kv) || kv.length !== 2) throw new Error('items must be (key, value) pairs');
          d.set(kv[0], kv[1]);
        }
      return d;
    },
    build: (_target, state) => {
      if (!(state instanceof Map) && !isTuple(state)) throw new Error('the state is not a dict');
    },
  },
  'torch._utils._rebuild_tensor': { call: rebuildTensor },
  'torch._utils._rebuild_tensor_v2': { call: rebuildTensor },
  'torch._utils._rebuild_parameter': { call: (args) => args[0] },
  'torch._utils._rebuild_parameter_with_state': { call: (args) => args[0] },
  // How protocols 0-2 write Python 3 bytes: _codecs.encode(text, 'latin1').
  '_codecs.encode': {
    call: ([text, encoding]) => {
      if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) throw new Error('only latin-1 text is encoded');
      return new Uint8Array(Buffer.from(text, 'latin1'));
    },
  },
  'builtins.set': { call: (args) => new Set(Array.isArray(args[0]) ? args[0] : []) },
  '__builtin__.set': { call: (args) => new Set(Array.isArray(args[0]) ? args[0] : []) },
  ...Object.fromEntries(Object.keys(storageDtypes).map((s) => [`torch.${s}`, { call: storageType(`torch.${s}`) }])),
};

function storageDtype(t: unknown, where: string): TorchDtype {
  const name = (t as PickleGlobal | null)?.name;
  const dtype = name?.startsWith('torch.') ? storageDtypes[name.slice(6)] : undefined;
  if (!dtype) throw new Error(`${where}: a storage of unknown type ${name ?? String(t)}`);
  return dtype;
}

export type TorchFormat = 'zip' | 'legacy';

export interface TorchFile {
  file: string;
  format: TorchFormat;
  /** The unpickled object; tensors are TensorRefs until read with readTensors. */
  root: unknown;
  /** Reads the storages of `refs` and returns each as a contiguous tensor. */
  readTensors(refs: TensorRef[], onTensor?: () => Promise<void>): Promise<TorchTensor[]>;
  close(): void;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** What a file is, from its first bytes. */
export async function sniffFormat(file: string): Promise<TorchFormat | 'safetensors' | 'tar' | null> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    const b = head.subarray(0, bytesRead);
    if (b.length >= 4 && b.readUInt32LE(0) === 0x04034b50) return 'zip';
    // Before the pickle test: a safetensors header length can start with 0x80 0x02; its JSON starts at byte 8,
    // where a legacy file has a byte of the magic number (protocol 2) or of a frame length (protocol 4+).
    if (b.length >= 9 && b[8] === 0x7b) return 'safetensors';
    if (b.length >= 2 && b[0] === 0x80 && b[1]! <= 5) return 'legacy';
    if (b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar') return 'tar';
    return null;
  } finally {
    await fh.close();
  }
}

/** Opens a torch.save file and unpickles its data; storages are read later, on demand. */
export async function openTorchFile(file: string): Promise<TorchFile> {
  const format = await sniffFormat(file);
  if (format === 'zip') return openZip(file);
  if (format === 'legacy') return openLegacy(file);
  if (format === 'tar') throw new Error(`${file}: a PyTorch checkpoint of the tar format (torch < 0.1.10) is not read; re-save it with a newer torch`);
  throw new Error(`${file}: not a PyTorch checkpoint (neither a torch >= 1.6 zip archive nor a legacy pickle stream)`);
}

function yauzlOpen(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true }, (err, zip) => (err ? reject(err) : resolve(zip))),
  );
}

function zipEntries(zip: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  return new Promise((resolve, reject) => {
    const entries = new Map<string, yauzl.Entry>();
    zip.on('entry', (e: yauzl.Entry) => {
      entries.set(e.fileName, e);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', reject);
    zip.readEntry();
  });
}

/**
 * An entry's bytes. torch stores its entries uncompressed: those are read with
 * one positioned read where yauzl says the data starts (a stream of 64 KiB
 * chunks is several times slower on a checkpoint of hundreds of MB); others go
 * through yauzl's inflating stream.
 */
async function readEntry(zip: yauzl.ZipFile, fh: fs.promises.FileHandle, e: yauzl.Entry): Promise<Buffer> {
  if (e.compressionMethod === 0) {
    const { fileDataStart } = await new Promise<{ fileDataStart: number }>((resolve, reject) =>
      zip.readLocalFileHeader(e, { minimal: true }, (err, h) => (err ? reject(err) : resolve(h))),
    );
    const out = Buffer.allocUnsafe(e.uncompressedSize);
    let done = 0;
    while (done < out.length) {
      const { bytesRead } = await fh.read(out, done, out.length - done, fileDataStart + done);
      if (bytesRead === 0) throw new Error(`the file ends ${out.length - done} bytes before the entry's end`);
      done += bytesRead;
    }
    return out;
  }
  return readEntryStream(zip, e);
}

function readEntryStream(zip: yauzl.ZipFile, e: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    zip.openReadStream(e, (err, stream) => {
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('end', () => resolve(Buffer.concat(chunks)));
    }),
  );
}

async function openZip(file: string): Promise<TorchFile> {
  let zip: yauzl.ZipFile;
  let entries: Map<string, yauzl.Entry>;
  try {
    zip = await yauzlOpen(file);
    entries = await zipEntries(zip);
  } catch (e) {
    throw new Error(`${file}: not a readable zip archive (truncated or corrupt?): ${(e as Error).message}`);
  }
  const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) {
    zip.close();
    throw new Error(`${file}: a zip archive but not a PyTorch checkpoint: ${pkl.length ? 'several' : 'no'} <archive>/data.pkl entr${pkl.length ? 'ies' : 'y'}`);
  }
  const archive = pkl[0]!.slice(0, -'/data.pkl'.length);
  const fh = await fs.promises.open(file, 'r');
  const close = () => {
    zip.close();
    void fh.close();
  };
  const read = async (name: string): Promise<Buffer> => {
    const e = entries.get(name);
    if (!e) throw new Error(`${file}: the archive has no entry ${name}`);
    try {
      return await readEntry(zip, fh, e);
    } catch (err) {
      throw new Error(`${file}: entry ${name} cannot be read (truncated or corrupt?): ${(err as Error).message}`);
    }
  };
  try {
    if (entries.has(`${archive}/byteorder`)) {
      const order = (await read(`${archive}/byteorder`)).toString('latin1');
      if (order !== 'little') throw new Error(`${file}: storages are ${order}-endian; only little-endian checkpoints are read`);
    }
    const where = `${file}: ${archive}/data.pkl`;
    const persistentLoad = (pid: unknown): StorageRef => {
      if (!isTuple(pid) || pid[0] !== 'storage' || pid.length < 5) throw new Error(`${where}: a persistent id that is not a storage`);
      const [, type, key, , numel] = pid;
      if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new Error(`${where}: a malformed storage id`);
      return { dtype: storageDtype(type, where), key, numel, base: 0 };
    };
    const { value } = unpickle(await read(`${archive}/data.pkl`), 0, { globals: checkpointGlobals, persistentLoad, where });
    return {
      file,
      format: 'zip',
      root: value,
      readTensors: (refs, onTensor) => materialise(file, refs, async (s) => read(`${archive}/data/${s.key}`), onTensor),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}

async function openLegacy(file: string): Promise<TorchFile> {
  const buf = await fs.promises.readFile(file);
  const next = (pos: number, what: string, persistentLoad?: (pid: unknown) => unknown) =>
    unpickle(buf, pos, { globals: checkpointGlobals, persistentLoad, where: `${file}: ${what}` });
  const magic = next(0, 'magic number');
  if (magic.value !== LEGACY_MAGIC) throw new Error(`${file}: starts with a pickle but not with the magic number of torch.save: not a PyTorch checkpoint`);
  const protocol = next(magic.end, 'protocol version');
  if (protocol.value !== 1001) throw new Error(`${file}: legacy protocol version ${String(protocol.value)}, expected 1001`);
  const sys = next(protocol.end, 'system info');
  if (sys.value instanceof Map && sys.value.get('little_endian') === false) throw new Error(`${file}: written on a big-endian machine; only little-endian checkpoints are read`);
  const roots = new Map<string, TorchDtype>();
  const where = `${file}: data pickle`;
  const persistentLoad = (pid: unknown): StorageRef => {
    if (!isTuple(pid) || pid.length < 5) throw new Error(`${where}: a malformed persistent id`);
    if (pid[0] === 'module') throw new Error(`${where}: refuses a pickled module's source code (a whole model saved with torch.save(model)); save model.state_dict() instead`);
    if (pid[0] !== 'storage') throw new Error(`${where}: a persistent id of kind ${String(pid[0])}`);
    const [, type, key, , numel, view] = pid;
    if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new Error(`${where}: a malformed storage id`);
    const dtype = storageDtype(type, where);
    roots.set(key, dtype);
    if (view === null || view === undefined) return { dtype, key, numel, base: 0 };
    // (view key, offset, size): a slice of the root storage `key`.
    if (!isTuple(view) || view.length !== 3 || typeof view[1] !== 'number' || typeof view[2] !== 'number') throw new Error(`${where}: a malformed storage view`);
    return { dtype, key, numel: view[2], base: view[1] };
  };
  const data = next(sys.end, 'data pickle', persistentLoad);
  const keys = next(data.end, 'storage key list');
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new Error(`${file}: the storage key list is not a list of strings`);
  // Storages follow back to back: int64 element count, then the elements.
  const storages = new Map<string, Uint8Array>();
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const dtype = roots.get(key);
    if (!dtype) throw new Error(`${file}: storage ${key} is listed but no tensor uses it`);
    if (pos + 8 > buf.length) throw new Error(`${file}: truncated: the file ends before storage ${key} (byte ${pos} of ${buf.length})`);
    const numel = buf.readBigInt64LE(pos);
    const bytes = Number(numel) * elementSize[dtype];
    if (numel < 0n || pos + 8 + bytes > buf.length)
      throw new Error(`${file}: truncated: storage ${key} needs ${bytes} bytes at byte ${pos + 8}, the file has ${buf.length - pos - 8} left`);
    storages.set(key, buf.subarray(pos + 8, pos + 8 + bytes));
    pos += 8 + bytes;
  }
  return {
    file,
    format: 'legacy',
    root: data.value,
    readTensors: (refs, onTensor) =>
      materialise(file, refs, async (s) => {
        const b = storages.get(s.key);
        if (!b) throw new Error(`${file}: storage ${s.key} is used by a tensor but not in the file's storage list`);
        return b;
      }, onTensor),
    close: () => {},
  };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Contiguous little-endian element bytes, in a buffer of their own (gather's) -> the tensor's typed array over it. */
function decode(dtype: TorchDtype, bytes: Uint8Array): TorchData {
  const n = bytes.length / elementSize[dtype];
  const buffer = bytes.buffer as ArrayBuffer;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int16':
      return new Int16Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer);
    case 'float16': {
      const u = new Uint16Array(buffer);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(u[i]!);
      return out;
    }
    case 'bfloat16': {
      // bfloat16 is the high half of a float32.
      const u = new Uint16Array(buffer);
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = u[i]! << 16;
      return new Float32Array(bits.buffer);
    }
  }
}

/**
 * The elements of `t` in row-major order, gathered from its storage's bytes
 * into a fresh buffer. Trailing dimensions laid out contiguously are copied as
 * one block per index of the leading ones (the whole tensor at once for the
 * usual contiguous tensor).
 */
function gather(file: string, t: TensorRef, storage: Uint8Array): Uint8Array {
  const es = elementSize[t.dtype];
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(numel * es);
  if (numel === 0) return out;
  const start = t.storage.base + t.offset;
  const extent = t.shape.reduce((a, s, i) => a + (s - 1) * t.stride[i]!, 0);
  const available = Math.min(t.storage.numel - t.offset, storage.length / es - start);
  if (extent >= available)
    throw new Error(`${file}: a tensor of shape [${t.shape.join(', ')}] (offset ${t.offset}, stride [${t.stride.join(', ')}]) reaches past its storage ${t.storage.key} of ${t.storage.numel} elements (truncated or corrupt?)`);
  // Dimensions [lead, d) are contiguous (size-1 dimensions never break that): one block of `block` elements.
  let lead = t.shape.length;
  let block = 1;
  while (lead > 0 && (t.shape[lead - 1] === 1 || t.stride[lead - 1] === block)) block *= t.shape[--lead]!;
  const blockBytes = block * es;
  const idx = new Array<number>(lead).fill(0);
  for (let o = 0; o < out.length; o += blockBytes) {
    let src = start;
    for (let i = 0; i < lead; i++) src += idx[i]! * t.stride[i]!;
    out.set(storage.subarray(src * es, src * es + blockBytes), o);
    for (let i = lead - 1; i >= 0 && ++idx[i]! === t.shape[i]!; i--) idx[i] = 0;
  }
  return out;
}

async function materialise(
  file: string,
  refs: TensorRef[],
  storageBytes: (s: StorageRef) => Promise<Uint8Array>,
  onTensor?: () => Promise<void>,
): Promise<TorchTensor[]> {
  // A storage is read once and dropped after the last tensor on it.
  const uses = new Map<string, number>();
  for (const t of refs) uses.set(t.storage.key, (uses.get(t.storage.key) ?? 0) + 1);
  const cache = new Map<string, Uint8Array>();
  const out: TorchTensor[] = [];
  for (const t of refs) {
    const key = t.storage.key;
    let bytes = cache.get(key);
    if (!bytes) {
      bytes = await storageBytes(t.storage);
      cache.set(key, bytes);
    }
    out.push({ dtype: t.dtype, shape: [...t.shape], data: decode(t.dtype, gather(file, t, bytes)) });
    const left = uses.get(key)! - 1;
    uses.set(key, left);
    if (!left) cache.delete(key);
    // Lets the event loop run between tensors of a large checkpoint.
    if (onTensor) await onTensor();
  }
  return out;
}
