// Decoded training images kept between epochs, up to a byte budget. Decoding a
// JPEG is three quarters of the loader's CPU time per image (1.75 of 2.4 ms for
// the varied synthetic set), and on 2 cores that time is taken from the
// engine's threads every epoch again; a small dataset fits in memory once
// decoded. Pixels of 8-bit images (every value an integer 0..255, as sharp
// gives them for JPEG and 8-bit PNG) are kept as bytes, a quarter of their
// float size; others as floats. Images that no longer fit are simply not kept
// (the first ones stay): a dataset larger than the budget gains in proportion
// instead of thrashing. Values come back bit for bit, so a run is the same with
// or without the cache. Written by hand: a map with a byte count is all it is.
import type { DecodedImage } from './image_decode';

interface Entry {
  data: Uint8Array | Float32Array;
  width: number;
  height: number;
}

export interface DecodedCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
}

export class DecodedImageCache {
  private readonly entries = new Map<number, Entry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;

  constructor(readonly maxBytes: number) {
    if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) throw new RangeError(`DecodedImageCache: maxBytes must be a number >= 0, got ${maxBytes}`);
  }

  /** A fresh copy of image `key`'s pixels (the caller may hand them on), or undefined. */
  get(key: number): DecodedImage | undefined {
    const e = this.entries.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return { tensor: { data: Float32Array.from(e.data), shape: [e.height, e.width, 3] }, width: e.width, height: e.height };
  }

  /** Whether image `key` is kept (counts neither a hit nor a miss). */
  has(key: number): boolean {
    return this.entries.has(key);
  }

  /** Keeps a copy of `img` as image `key` if it fits in the budget. */
  put(key: number, img: DecodedImage): void {
    if (this.entries.has(key)) return;
    const f = img.tensor.data as Float32Array;
    if (this.bytes + f.length > this.maxBytes) return; // not even as bytes
    let bytesWillDo = true;
    for (let i = 0; i < f.length; i++) {
      const v = f[i]!;
      if (!(v >= 0 && v <= 255 && Math.trunc(v) === v && !Object.is(v, -0))) {
        bytesWillDo = false;
        break;
      }
    }
    const data = bytesWillDo ? Uint8Array.from(f) : Float32Array.from(f);
    if (this.bytes + data.byteLength > this.maxBytes) return;
    this.entries.set(key, { data, width: img.width, height: img.height });
    this.bytes += data.byteLength;
  }

  stats(): DecodedCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, hits: this.hits, misses: this.misses };
  }
}
