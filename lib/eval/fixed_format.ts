// Python's '{:0.Nf}' for a float: the exact binary value rounded to N decimals, exact ties to even.
// Number.prototype.toFixed rounds exact ties away from zero (0.0625 -> '0.063', Python '0.062'), and
// such ties (k/16) are common among AP values of small evaluations.

function exactParts(x: number): { mant: bigint; exp: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const hi = view.getUint32(0), lo = view.getUint32(4);
  const biased = hi >>> 20;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  // |x| = mant * 2^exp exactly.
  return biased === 0 ? { mant: frac, exp: -1074 } : { mant: frac | (1n << 52n), exp: biased - 1075 };
}

export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x) || Math.abs(x) >= 1e21) return x.toFixed(digits);
  const { mant, exp } = exactParts(x);
  if (exp < 0) {
    const scaled = mant * 10n ** BigInt(digits);
    const shift = BigInt(-exp);
    const rem = scaled & ((1n << shift) - 1n);
    if (rem === 1n << (shift - 1n)) {
      let n = scaled >> shift;
      if (n % 2n === 1n) n += 1n;
      const s = n.toString().padStart(digits + 1, '0');
      const body = digits > 0 ? `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}` : s;
      return x < 0 || Object.is(x, -0) ? `-${body}` : body;
    }
  }
  return x.toFixed(digits);
}
