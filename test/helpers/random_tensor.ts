// Seeded test inputs: an LCG giving values in [-0.5, 0.5), the same on every run
// and machine, so a failing case replays exactly.
import { tensor, type TensorData } from '../../lib/ops';

/** The LCG itself: values in [0, 1). */
export function uniform01(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function seeded(seed: number): () => number {
  const u = uniform01(seed);
  return () => u() - 0.5;
}

/** A tensor whose element i is f(i). */
export function filled(shape: number[], f: (i: number) => number): TensorData {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => f(i)), shape };
}

export function randomTensor(shape: number[], seed: number): TensorData {
  const r = seeded(seed);
  return tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, r), shape);
}
