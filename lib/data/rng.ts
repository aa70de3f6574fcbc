// A seeded random number generator whose streams can be derived from keys
// (seed, epoch, image index...), so that what one image gets does not depend on
// which worker processed it or in what order: a run is reproducible with any
// number of images in flight. sfc32 (Chris Doty-Humphrey's small fast counter
// generator) seeded through a 32-bit hash of the keys; 2^32-ish quality is ample
// for augmentation and synthetic scenes, and it is a few lines, so no dependency.

function mix32(h: number, k: number): number {
  // MurmurHash3's 32-bit mixing of one key into the running hash.
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A stream determined by the keys (integers, or strings hashed by their code units). */
  constructor(...keys: (number | string)[]) {
    let h = 0x9e3779b9;
    for (const key of keys) {
      if (typeof key === 'string') for (let i = 0; i < key.length; i++) h = mix32(h, key.charCodeAt(i));
      else {
        // Two halves so that keys up to 2^53 stay distinct.
        h = mix32(h, key | 0);
        h = mix32(h, Math.floor(key / 4294967296) | 0);
      }
      h = mix32(h, 0x5bd1e995);
    }
    this.a = fmix32(h ^ 0x01234567);
    this.b = fmix32(h ^ 0x89abcdef);
    this.c = fmix32(h ^ 0xfedcba98);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A derived, independent stream. */
  fork(...keys: (number | string)[]): Rng {
    return new Rng(this.nextU32(), ...keys);
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    return (this.nextU32() * 2097152 + (this.nextU32() >>> 11)) / 9007199254740992;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** An integer in [lo, hi) (hi exclusive, as numpy's randint). */
  int(lo: number, hi: number): number {
    if (!(hi > lo)) throw new RangeError(`Rng.int: empty range [${lo}, ${hi})`);
    return lo + Math.floor(this.next() * (hi - lo));
  }

  /** true with probability p. */
  chance(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length)]!;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    return p;
  }
}
