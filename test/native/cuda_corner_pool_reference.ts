// A plain JavaScript corner pool, written from the definition, to check the CUDA
// kernels against: each output is the running max along one axis, scanned from
// the far edge towards it; backward sends its gradient to the argmax, the tied
// position nearest to the output winning (mmcv's cummax rule). NaN wins and
// stays, as torch.cummax.
import type { CornerPoolMode } from './cuda_check_tool';

/** Flat indices of every scan line of an NCHW tensor, each in scan order. */
function scanLines(shape: number[], mode: CornerPoolMode): number[][] {
  const [n, c, h, w] = shape as [number, number, number, number];
  const lines: number[][] = [];
  for (let p = 0; p < n * c; ++p) {
    const base = p * h * w;
    if (mode === 'top' || mode === 'bottom') {
      for (let j = 0; j < w; ++j) {
        const line: number[] = [];
        for (let s = 0; s < h; ++s) line.push(base + (mode === 'top' ? h - 1 - s : s) * w + j);
        lines.push(line);
      }
    } else {
      for (let i = 0; i < h; ++i) {
        const line: number[] = [];
        for (let s = 0; s < w; ++s) line.push(base + i * w + (mode === 'left' ? w - 1 - s : s));
        lines.push(line);
      }
    }
  }
  return lines;
}

function takesOver(v: number, m: number): boolean {
  return Number.isNaN(v) || (!Number.isNaN(m) && v >= m);
}

export function cornerPoolForwardRef(x: Float32Array, shape: number[], mode: CornerPoolMode): Float32Array {
  const y = new Float32Array(x.length);
  for (const line of scanLines(shape, mode)) {
    let m = -Infinity;
    for (const at of line) {
      if (takesOver(x[at]!, m)) m = x[at]!;
      y[at] = m;
    }
  }
  return y;
}

export function cornerPoolBackwardRef(x: Float32Array, gy: Float32Array, shape: number[], mode: CornerPoolMode): Float32Array {
  const gx = new Float64Array(x.length);
  for (const line of scanLines(shape, mode)) {
    let m = -Infinity;
    let arg = -1;
    for (const at of line) {
      if (takesOver(x[at]!, m)) {
        m = x[at]!;
        arg = at;
      }
      gx[arg] = gx[arg]! + gy[at]!;
    }
  }
  return Float32Array.from(gx);
}
