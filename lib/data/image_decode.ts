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
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    // sharp reads the size from the header and refuses an image past the limit before decoding it.
    out = await sharp(file, { failOn: 'error', limitInputPixels: MAX_IMAGE_PIXELS })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'float' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    const msg = (e as Error).message;
    if (/exceeds pixel limit/.test(msg)) {
      const { width, height } = await sharp(file, { limitInputPixels: false }).metadata();
      throw new ImageDecodeError(`${file}: the image is too large: ${width}x${height} (${width * height} pixels), more than the limit of ${MAX_IMAGE_PIXELS} (8192x8192)`);
    }
    throw new ImageDecodeError(/no such file|ENOENT|missing/i.test(msg) ? `${file}: file not found` : `${file}: cannot be decoded (${msg})`);
  }
  const { data, info } = out;
  if (info.channels !== 3) throw new ImageDecodeError(`${file}: decoded to ${info.channels} channels, expected 3`);
  // sharp's buffers are their own allocation; copy only if one ever comes unaligned.
  const f32 = data.byteOffset % 4 === 0 ? new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4) : new Float32Array(new Uint8Array(data).buffer);
  return { tensor: { data: f32, shape: [info.height, info.width, 3] }, width: info.width, height: info.height };
}
