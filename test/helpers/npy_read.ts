// Reads the .npy files of the shared fixtures (format 1.0/2.0, little-endian
// float32 '<f4', C order) into {data, shape}.
import * as fs from 'fs';

export interface NpyArray {
  data: Float32Array;
  shape: number[];
}

export function readNpy(file: string): NpyArray {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr !== '<f4') throw new Error(`${file}: dtype ${descr}, expected <f4`);
  if (fortran !== 'False') throw new Error(`${file}: Fortran order is not supported`);
  if (shapeText === undefined) throw new Error(`${file}: no shape in the header`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const offset = start + headerLen;
  const n = shape.reduce((a, b) => a * b, 1);
  if (buf.length - offset !== 4 * n) throw new Error(`${file}: ${buf.length - offset} data bytes for shape [${shape}]`);
  const data = new Float32Array(n);
  Buffer.from(data.buffer).set(buf.subarray(offset, offset + 4 * n));
  return { data, shape };
}
