// numpy's summation order for a contiguous float64 array (np.add.reduce / np.mean): the reduction runs over
// buffers of 8192 values, each summed pairwise (8-way unrolled blocks of at most 128 values), the buffer sums
// added in turn. Summing in the same order makes the averaged COCO stats agree with the reference bit for bit
// (the fixtures' AP over 9 categories, 9090 values, differs in the last bit otherwise). numpy >= 2.3 reduces
// the whole array pairwise instead; the two orders differ by an ulp or so.

const BLOCK = 128;

export function pairwiseSum(a: Float64Array, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= BLOCK) {
    let r0 = a[start]!, r1 = a[start + 1]!, r2 = a[start + 2]!, r3 = a[start + 3]!;
    let r4 = a[start + 4]!, r5 = a[start + 5]!, r6 = a[start + 6]!, r7 = a[start + 7]!;
    let i = 8;
    const end8 = n - (n % 8);
    for (; i < end8; i += 8) {
      const p = start + i;
      r0 += a[p]!; r1 += a[p + 1]!; r2 += a[p + 2]!; r3 += a[p + 3]!;
      r4 += a[p + 4]!; r5 += a[p + 5]!; r6 += a[p + 6]!; r7 += a[p + 7]!;
    }
    let res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

const BUFFER = 8192;

/** np.add.reduce of a[start .. start+n). */
export function numpySum(a: Float64Array, start = 0, n = a.length - start): number {
  let res = 0;
  for (let s = 0; s < n; s += BUFFER) res += pairwiseSum(a, start + s, Math.min(BUFFER, n - s));
  return res;
}

/** Mean of the entries > -1 (the reference's "-1 means absent" convention); -1 when there are none. */
export function meanOfPresent(values: Float64Array, count = values.length): number {
  let n = 0;
  const kept = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    if (v > -1) kept[n++] = v;
  }
  return n === 0 ? -1 : numpySum(kept, 0, n) / n;
}
