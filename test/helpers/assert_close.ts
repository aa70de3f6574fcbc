// Element-wise comparison in the numpy.allclose sense, |a - e| <= atol + rtol*|e|,
// failing with the worst element's index and values so a mismatch can be
// located. NaN matches only NaN, and infinities only the same infinity.
import { AssertionError } from 'assert';
import type { TensorData } from '../../lib/ops';
import type { Tolerance } from './fixtures';

export interface CloseReport {
  mismatches: number;
  worst: number; // flat index of the largest excess over the tolerance, -1 if none
}

function unravel(index: number, shape: number[]): string {
  const out: number[] = [];
  let r = index;
  for (let i = shape.length - 1; i >= 0; --i) {
    const d = shape[i]!;
    out.unshift(d > 0 ? r % d : 0);
    r = d > 0 ? Math.floor(r / d) : 0;
  }
  return `[${out.join(',')}]`;
}

function elementOk(a: number, e: number, tol: Tolerance): number {
  if (Number.isNaN(e) || Number.isNaN(a)) return Number.isNaN(e) && Number.isNaN(a) ? 0 : Infinity;
  if (!Number.isFinite(e) || !Number.isFinite(a)) return a === e ? 0 : Infinity;
  return Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
}

/** Compares the elements for which `tolOf(i)` gives a tolerance (default: one for all). */
export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolOf: (i: number) => Tolerance): CloseReport {
  let mismatches = 0, worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; ++i) {
    const excess = elementOk(actual[i]!, expected[i]!, tolOf(i));
    if (excess > 0) {
      ++mismatches;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  return { mismatches, worst };
}

export function assertClose(
  label: string,
  actual: TensorData,
  expected: TensorData,
  tol: Tolerance | ((flatIndex: number) => Tolerance)
): void {
  const shapeOf = (t: TensorData) => `[${t.shape.join(',')}]`;
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i]))
    throw new AssertionError({ message: `${label}: shape ${shapeOf(actual)}, expected ${shapeOf(expected)}` });
  if (actual.data.length !== expected.data.length)
    throw new AssertionError({ message: `${label}: ${actual.data.length} values, expected ${expected.data.length}` });
  const tolOf = typeof tol === 'function' ? tol : () => tol;
  const r = compareClose(actual.data, expected.data, tolOf);
  if (r.mismatches > 0) {
    const i = r.worst;
    const t = tolOf(i);
    throw new AssertionError({
      message:
        `${label}: ${r.mismatches} of ${expected.data.length} values differ beyond rtol=${t.rtol}, atol=${t.atol}; ` +
        `worst at ${unravel(i, expected.shape)}: got ${actual.data[i]}, expected ${expected.data[i]} ` +
        `(|diff| ${Math.abs(actual.data[i]! - expected.data[i]!)})`,
    });
  }
}
