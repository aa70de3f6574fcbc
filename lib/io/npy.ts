// NumPy .npy files of float32 tensors (format 1.0/2.0, little-endian '<f4', C
// order): what `cornernet model --input/--dump` reads and writes, and what the
// reference fixtures hold.
import * as fs from 'fs';

import type { TensorData } from '../native';

export function readNpy(file: string): TensorData {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  if (major !== 1 && major !== 2 && major !== 3) throw new Error(`${file}: unsupported .npy version ${major}`);
  const start = major === 1 ? 10 : 12;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr !== '<f4') throw new Error(`${file}: dtype '${descr}', expected float32 ('<f4'); convert with x.astype('<f4')`);
  if (fortran !== 'False') throw new Error(`${file}: Fortran order is not supported; save a C-ordered array`);
  if (shapeText === undefined) throw new Error(`${file}: no shape in the header`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const offset = start + headerLen;
  const n = shape.reduce((a, b) => a * b, 1);
  if (buf.length - offset !== 4 * n) throw new Error(`${file}: ${buf.length - offset} data bytes for shape [${shape.join(', ')}] (${4 * n} expected)`);
  const data = new Float32Array(n);
  Buffer.from(data.buffer).set(buf.subarray(offset, offset + 4 * n));
  return { data, shape };
}

export function writeNpy(file: string, t: TensorData): void {
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}
