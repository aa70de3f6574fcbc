// Weights that keep a randomly built model smooth for finite differences:
// positive conv weights (scaled by fan-in), identity BN statistics and scale,
// and positive biases, so with a positive input every ReLU is active and every
// corner pool compares distinct values.
import type { StateDict } from '../../lib/model';

/** Rewrites `sd` in place; `bias(name)` gives each bias entry's value (default 0.5 + U[0,1)). */
export function linearRegime(sd: StateDict, r: () => number, bias: (name: string) => number = () => 0.5 + r()): void {
  for (const [k, v] of Object.entries(sd)) {
    if (v.data instanceof BigInt64Array) continue;
    const d = v.data;
    if (v.shape.length === 4) {
      const fanIn = v.shape[1]! * v.shape[2]! * v.shape[3]!;
      for (let i = 0; i < d.length; i++) d[i] = (0.5 + r()) / fanIn;
    } else if (k.endsWith('running_mean')) d.fill(0);
    else if (k.endsWith('running_var')) d.fill(1);
    else if (k.endsWith('.weight')) d.fill(1);
    else for (let i = 0; i < d.length; i++) d[i] = bias(k);
  }
}
