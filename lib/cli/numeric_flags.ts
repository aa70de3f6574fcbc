// The one check of every command's numeric flags. yargs turns `--n abc` into NaN
// and takes -1, 0 or 1.5 for a count without a word; each command states what
// its numbers may be and this refuses anything else before the command runs,
// naming the flag (yargs' fail() then prints the help and the reason).

export interface NumberRule {
  /** Whole numbers only (safe integers). */
  integer?: boolean;
  /** Smallest value allowed; with `exclusive`, values must be above it. */
  min?: number;
  exclusive?: boolean;
  max?: number;
  /** How the message says it (default: from the bounds). */
  what?: string;
}

export const positiveInteger: NumberRule = { integer: true, min: 1, what: 'a positive integer' };
export const nonNegativeInteger: NumberRule = { integer: true, min: 0, what: 'a non-negative integer' };
export const positiveNumber: NumberRule = { min: 0, exclusive: true, what: 'a positive number' };

function describeRule(r: NumberRule): string {
  if (r.what) return r.what;
  const kind = r.integer ? 'an integer' : 'a number';
  if (r.min !== undefined && r.max !== undefined) return `${kind} in ${r.exclusive ? '(' : '['}${r.min}, ${r.max}]`;
  if (r.min !== undefined) return `${kind} ${r.exclusive ? '>' : '>='} ${r.min}`;
  if (r.max !== undefined) return `${kind} <= ${r.max}`;
  return `a finite ${r.integer ? 'integer' : 'number'}`;
}

/** Why `v` breaks `r`, or null when it is allowed. */
export function numberProblem(v: unknown, r: NumberRule): string | null {
  const want = `must be ${describeRule(r)}`;
  if (Array.isArray(v)) return `is given ${v.length} times; give it once`;
  if (typeof v !== 'number' || Number.isNaN(v)) return `${want}, got something that is not a number`;
  const ok =
    Number.isFinite(v) &&
    (!r.integer || Number.isSafeInteger(v)) &&
    (r.min === undefined || (r.exclusive ? v > r.min : v >= r.min)) &&
    (r.max === undefined || v <= r.max);
  return ok ? null : `${want}, got ${v}`;
}

/**
 * A yargs .check() callback for the flags in `rules` (absent flags pass; their
 * defaults are the command's business). Throws naming the first bad flag.
 */
export function checkNumericFlags(rules: Record<string, NumberRule>): (argv: Record<string, unknown>) => true {
  return (argv) => {
    for (const [flag, rule] of Object.entries(rules)) {
      const v = argv[flag];
      if (v === undefined) continue;
      const problem = numberProblem(v, rule);
      if (problem) throw new Error(`--${flag} ${problem}`);
    }
    return true;
  };
}
