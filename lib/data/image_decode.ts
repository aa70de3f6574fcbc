// Image decoding with sharp (libvips, off the event loop). The result matches
// mmcv's imread(flag='color', to_float32): 3 channels (grey expanded, alpha
// dropped), float32, values 0..255; but RGB order (the pipeline's native order;
// mmdet converts BGR->RGB in Normalize). EXIF orientation is not applied, as the
// annotations describe the stored pixels.
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

export async function decodeImage(file: string): Promise<DecodedImage> {
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
