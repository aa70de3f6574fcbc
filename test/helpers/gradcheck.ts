// Finite-difference gradient checks: central differences of a scalar loss,
// evaluated in float64 from an op's float32 outputs, against the gradient its
// backward returns. Meant for small inputs (two forward calls per element).
import { AssertionError } from 'assert';
import type { TensorData } from '../../lib/ops';
import type { Tolerance } from './fixtures';

export interface GradcheckSpec {
  /** Inputs of the op, as float32 tensors; the checked ones are perturbed in place and restored. */
  inputs: Record<string, TensorData>;
  /** Names of the inputs to differentiate with respect to. */
  wrt: string[];
  /** The scalar whose gradient the backward computes, e.g. sum(y * gradY), in float64. */
  loss: (inputs: Record<string, TensorData>) => number;
  /** The backward's gradient for each name in `wrt`. */
  analytic: Record<string, TensorData>;
  /** Step; the effective step is what float32 rounding leaves of it. */
  h: number;
  tolerance: Tolerance;
}

export interface GradcheckFailure {
  input: string;
  index: number;
  analytic: number;
  numeric: number;
}

/** sum(y * g) over every element, accumulated in float64. */
export function dot(y: TensorData, g: TensorData): number {
  let s = 0;
  for (let i = 0; i < y.data.length; ++i) s += y.data[i]! * g.data[i]!;
  return s;
}

/** The numerical gradient of `loss` with respect to one input. */
export function numericGradient(spec: Pick<GradcheckSpec, 'inputs' | 'loss' | 'h'>, name: string): Float64Array {
  const t = spec.inputs[name];
  if (!t) throw new Error(`gradcheck: no input '${name}'`);
  const d = t.data;
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; ++i) {
    const x = d[i]!;
    const plus = Math.fround(x + spec.h), minus = Math.fround(x - spec.h);
    d[i] = plus;
    const lp = spec.loss(spec.inputs);
    d[i] = minus;
    const lm = spec.loss(spec.inputs);
    d[i] = x;
    // Divide by the step float32 actually took, not the one asked for.
    out[i] = (lp - lm) / (plus - minus);
  }
  return out;
}

/** Checks every input in `wrt`; throws an AssertionError listing the worst mismatches. */
export function gradcheck(spec: GradcheckSpec, label: string): void {
  const failures: GradcheckFailure[] = [];
  for (const name of spec.wrt) {
    const a = spec.analytic[name];
    if (!a) throw new Error(`gradcheck: ${label}: the backward gave no gradient for '${name}'`);
    const n = numericGradient(spec, name);
    if (a.data.length !== n.length)
      throw new AssertionError({ message: `${label}: gradient of '${name}' has ${a.data.length} values, input has ${n.length}` });
    for (let i = 0; i < n.length; ++i) {
      const an = a.data[i]!, nu = n[i]!;
      if (!(Math.abs(an - nu) <= spec.tolerance.atol + spec.tolerance.rtol * Math.abs(nu)))
        failures.push({ input: name, index: i, analytic: an, numeric: nu });
    }
  }
  if (failures.length) {
    failures.sort((p, q) => Math.abs(q.analytic - q.numeric) - Math.abs(p.analytic - p.numeric));
    const shown = failures
      .slice(0, 5)
      .map((f) => `${f.input}[${f.index}]: backward ${f.analytic}, finite difference ${f.numeric}`)
      .join('; ');
    throw new AssertionError({
      message: `${label}: ${failures.length} gradient values off (rtol=${spec.tolerance.rtol}, atol=${spec.tolerance.atol}, h=${spec.h}): ${shown}`,
    });
  }
}
