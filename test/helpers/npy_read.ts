// Reads a little-endian float32, C-order .npy file (the fixtures' format) into a
// tensor. Anything else is refused with the file's name, rather than misread.
import * as fs from 'fs';
import type { TensorData } from '../../lib/native';

export function readNpyF32(file: string): TensorData {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not an .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr !== '<f4') throw new Error(`${file}: dtype ${descr ?? '?'} is not little-endian float32`);
  if (fortran !== 'False') throw new Error(`${file}: Fortran-order arrays are not supported`);
  if (shapeText === undefined) throw new Error(`${file}: no shape in the header`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (buf.length - offset !== count * 4) throw new Error(`${file}: ${buf.length - offset} data bytes for shape [${shape.join(',')}]`);
  // Copy into a fresh, aligned buffer (the file buffer's offset need not be a multiple of 4).
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(buf.subarray(offset, offset + count * 4));
  return { data, shape };
}
