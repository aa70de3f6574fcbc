// Image decoding with sharp (libvips, off the event loop). The result matches
// mmcv's imread(flag='color', to_float32): 3 channels (grey expanded, alpha
// dropped), float32, values 0..255; but RGB order (the pipeline's native order;
// mmdet converts BGR->RGB in Normalize). EXIF orientation is not applied, as the
// annotations describe the stored pixels.
import * as fs from 'fs';

import sharp from 'sharp';

import type { TensorData } from '../native';
import { MAX_IMAGE_PIXELS } from './pixel_ops';

export interface DecodedImage {
  /** H x W x 3 float RGB. */
  tensor: TensorData;
  width: number;
  height: number;
}

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

/**
 * Why `file` cannot be an image file (missing, or not a regular file), or null.
 * A FIFO, socket or device would make the read block forever or never end, so
 * such a path is refused before anything opens it.
 */
export async function notAnImageFile(file: string): Promise<string | null> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${file}: file not found` : `${file}: ${(e as Error).message}`;
  }
  if (st.isFile()) return null;
  const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isSocket() ? 'a socket' : 'a device or other special file';
  return `${file}: not a regular file (${kind}), refused: an image must be a regular file`;
}

export async function decodeImage(file: string): Promise<DecodedImage> {
  const problem = await notAnImageFile(file);
  if (problem) throw new ImageDecodeError(problem);
  return decodeWithSharp(file, file);
}

/**
 * An encoded image (JPEG, PNG, WebP, ... as sharp reads them) held in memory;
 * `name` says which one in errors. Decoded off the event loop, as files are.
 */
export async function decodeImageBuffer(buffer: Uint8Array, name = 'image buffer'): Promise<DecodedImage> {
  if (buffer.length === 0) throw new ImageDecodeError(`${name}: empty buffer, expected an encoded image (JPEG, PNG, WebP, ...)`);
  return decodeWithSharp(Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength), name);
}

async function decodeWithSharp(input: string | Buffer, name: string): Promise<DecodedImage> {
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    // sharp reads the size from the header and refuses an image past the limit before decoding it.
    out = await sharp(input, { failOn: 'error', limitInputPixels: MAX_IMAGE_PIXELS })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'float' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    const msg = (e as Error).message;
    if (/exceeds pixel limit/.test(msg)) {
      const { width, height } = await sharp(input, { limitInputPixels: false }).metadata();
      throw new ImageDecodeError(`${name}: the image is too large: ${width}x${height} (${width * height} pixels), more than the limit of ${MAX_IMAGE_PIXELS} (8192x8192)`);
    }
    throw new ImageDecodeError(typeof input === 'string' && /no such file|ENOENT|missing/i.test(msg) ? `${name}: file not found` : `${name}: cannot be decoded (${msg})`);
  }
  const { data, info } = out;
  if (info.channels !== 3) throw new ImageDecodeError(`${name}: decoded to ${info.channels} channels, expected 3`);
  // sharp's buffers are their own allocation; copy only if one ever comes unaligned.
  const f32 = data.byteOffset % 4 === 0 ? new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4) : new Float32Array(new Uint8Array(data).buffer);
  return { tensor: { data: f32, shape: [info.height, info.width, 3] }, width: info.width, height: info.height };
}

/** Decoded pixels given by the caller: interleaved rows, `channels` per pixel. */
export interface RawPixels {
  /** width x height x channels values, 0..255 (a Float32Array may hold any finite value on that scale). */
  data: Uint8Array | Uint8ClampedArray | Float32Array;
  width: number;
  height: number;
  /** 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). */
  channels: number;
}

/**
 * Raw pixels as decodeImage gives a file: RGB floats (grey repeated, alpha
 * dropped, as sharp's removeAlpha and sRGB conversion do). Every field is
 * checked, and `name` with the field is said when one is wrong.
 */
export function rawPixelsToImage(raw: RawPixels, name = 'pixels'): DecodedImage {
  const { data, width, height, channels } = raw;
  const dims: [string, unknown][] = [['width', width], ['height', height]];
  for (const [k, v] of dims)
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ImageDecodeError(`${name}.${k} must be a positive integer, got ${String(v)}`);
  if (width * height > MAX_IMAGE_PIXELS)
    throw new ImageDecodeError(`${name}: the image is too large: ${width}x${height} (${width * height} pixels), more than the limit of ${MAX_IMAGE_PIXELS} (8192x8192)`);
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4)
    throw new ImageDecodeError(`${name}.channels must be 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), got ${String(channels)}`);
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray || data instanceof Float32Array))
    throw new ImageDecodeError(`${name}.data must be a Uint8Array or a Float32Array, got ${data === null ? 'null' : typeof data === 'object' ? (data as object).constructor?.name ?? 'an object' : typeof data}`);
  const pixels = width * height;
  if (data.length !== pixels * channels)
    throw new ImageDecodeError(`${name}.data holds ${data.length} values; ${width}x${height} pixels of ${channels} channel(s) need ${pixels * channels}`);
  const out = new Float32Array(pixels * 3);
  if (channels === 3) {
    out.set(data);
  } else {
    const colour = channels >= 3;
    for (let p = 0, i = 0; p < pixels; p++, i += channels) {
      out[3 * p] = data[i]!;
      out[3 * p + 1] = data[colour ? i + 1 : i]!;
      out[3 * p + 2] = data[colour ? i + 2 : i]!;
    }
  }
  if (data instanceof Float32Array) {
    for (let i = 0; i < out.length; i++)
      if (!Number.isFinite(out[i]!)) throw new ImageDecodeError(`${name}.data holds a non-finite value (${out[i]}) at pixel ${Math.floor(i / 3)}`);
  }
  return { tensor: { data: out, shape: [height, width, 3] }, width, height };
}
