// NumPy .npy files of float32 tensors (format 1.0, '<f4', C order): the format
// of the reference fixtures, and what `cornernet model --input/--dump` reads and
// writes. Anything else is refused with a message saying what was found.
import * as fs from 'fs';
import type { TensorData } from '../native';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
// numpy pads the header so the data starts on a 64-byte boundary.
const ALIGN = 64;

function fail(source: string, what: string): never {
  throw new Error(`npy: ${source}: ${what}`);
}

function parseShape(source: string, text: string): number[] {
  const inner = text.trim();
  if (inner === '') return [];
  const parts = inner.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) fail(source, `header 'shape' has a non-integer entry '${p}'`);
    return Number(p);
  });
}

/** Parses .npy bytes; `source` names the file in error messages. */
export function parseNpy(bytes: Buffer, source = '<buffer>'): TensorData {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) fail(source, 'not a NumPy .npy file (bad magic bytes)');
  const major = bytes[6]!, minor = bytes[7]!;
  if (major !== 1 || minor !== 0) fail(source, `format version ${major}.${minor} is not supported (only 1.0)`);
  const headerLen = bytes.readUInt16LE(8);
  const dataStart = 10 + headerLen;
  if (bytes.length < dataStart) fail(source, `truncated header (needs ${dataStart} bytes, file has ${bytes.length})`);
  const header = bytes.subarray(10, dataStart).toString('latin1');

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  if (descr === undefined) fail(source, `header has no 'descr': ${header.trim()}`);
  if (descr !== '<f4') fail(source, `dtype '${descr}' is not supported; expected '<f4' (float32, little-endian)`);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  if (fortran === undefined) fail(source, `header has no 'fortran_order': ${header.trim()}`);
  if (fortran === 'True') fail(source, 'Fortran-order arrays are not supported; save with C order');
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) fail(source, `header has no 'shape': ${header.trim()}`);
  const shape = parseShape(source, shapeText);

  const count = shape.reduce((a, b) => a * b, 1);
  const available = bytes.length - dataStart;
  if (available !== count * 4)
    fail(source, `shape [${shape.join(',')}] needs ${count * 4} data bytes, the file has ${available}`);
  // Copy: the data offset inside the Buffer need not be 4-byte aligned.
  const data = new Float32Array(count);
  Buffer.from(data.buffer).set(bytes.subarray(dataStart));
  return { data, shape };
}

export function readNpy(file: string): TensorData {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`npy: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseNpy(bytes, file);
}

/** .npy bytes for a float32 tensor (a 0-d array when shape is []). */
export function formatNpy(t: TensorData): Buffer {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) throw new Error(`npy: shape [${t.shape.join(',')}] needs ${count} values, data has ${t.data.length}`);
  for (const d of t.shape) if (!Number.isInteger(d) || d < 0) throw new Error(`npy: bad dimension ${d} in shape [${t.shape.join(',')}]`);
  const shapeText = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1; // + the closing newline
  header += ' '.repeat((ALIGN - (unpadded % ALIGN)) % ALIGN) + '\n';
  const prefix = Buffer.alloc(10);
  MAGIC.copy(prefix, 0);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const body = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]);
}

export function writeNpy(file: string, t: TensorData): void {
  fs.writeFileSync(file, formatNpy(t));
}
