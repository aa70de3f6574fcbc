// lib/data/decoded_cache.ts: pixels back bit for bit (bytes for 8-bit images,
// floats otherwise), copies that the caller may change, the byte budget.
import { strict as assert } from 'assert';

import { DecodedImageCache } from '../../lib/data/decoded_cache';
import type { DecodedImage } from '../../lib/data/image_decode';

const image = (values: number[], width: number, height: number): DecodedImage => ({
  tensor: { data: Float32Array.from(values), shape: [height, width, 3] },
  width,
  height,
});

describe('data/decoded_cache', () => {
  it('gives back 8-bit pixels and float pixels bit for bit, kept as bytes and as floats', () => {
    const c = new DecodedImageCache(1000);
    const bytes = image([0, 1, 2, 253, 254, 255], 2, 1);
    const floats = image([0.5, 1, 2, 3, 256, -1], 1, 2);
    c.put(1, bytes);
    c.put(2, floats);
    assert.deepEqual(c.stats(), { entries: 2, bytes: 6 + 24, hits: 0, misses: 0 });
    const b = c.get(1)!;
    assert.deepEqual(Array.from(b.tensor.data as Float32Array), [0, 1, 2, 253, 254, 255]);
    assert.deepEqual(b.tensor.shape, [1, 2, 3]);
    assert.deepEqual([b.width, b.height], [2, 1]);
    assert.deepEqual(Array.from(c.get(2)!.tensor.data as Float32Array), [0.5, 1, 2, 3, 256, -1]);
    assert.equal(c.get(3), undefined);
    assert.deepEqual(c.stats(), { entries: 2, bytes: 30, hits: 2, misses: 1 });
  });

  it('hands out copies: changing one changes neither the cache nor the image it came from', () => {
    const c = new DecodedImageCache(1000);
    const src = image([10, 20, 30], 1, 1);
    c.put(0, src);
    (src.tensor.data as Float32Array)[0] = 99;
    const got = c.get(0)!;
    (got.tensor.data as Float32Array)[1] = 77;
    assert.deepEqual(Array.from(c.get(0)!.tensor.data as Float32Array), [10, 20, 30]);
  });

  it('keeps nothing past its budget, the first images staying; 0 keeps nothing', () => {
    const c = new DecodedImageCache(7);
    c.put(0, image([1, 2, 3], 1, 1));
    c.put(1, image([4, 5, 6], 1, 1));
    c.put(2, image([7, 8, 9], 1, 1));
    assert.deepEqual(c.stats(), { entries: 2, bytes: 6, hits: 0, misses: 0 });
    assert.equal(c.get(2), undefined);
    const none = new DecodedImageCache(0);
    none.put(0, image([1, 2, 3], 1, 1));
    assert.equal(none.stats().entries, 0);
    assert.throws(() => new DecodedImageCache(-1), /maxBytes must be a number >= 0, got -1/);
  });
});
