// The one table of engine ops that both the tests and the benchmarks run (as
// ggml's test-backend-ops does): each entry makes seeded inputs for a shape,
// runs forward and backward through lib/ops.ts on a named backend, and says how
// closely results must agree. test/native/ops_gradcheck.test.ts checks every
// entry's backward against finite differences and every non-CPU backend
// against the CPU; bench/ times the entries' bench cases.
import { native, type NativeOpFn } from '../lib/native';
import * as ops from '../lib/ops';
import type { TensorData } from '../lib/ops';
import { Rng } from './rng';

export type Tensors = Record<string, TensorData>;

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** One problem size. `x` is the main input's shape; conv cases add the rest. */
export interface OpCase {
  x: number[];
  /** conv2d: [out_channels, in_channels, k, k] */
  weight?: number[];
  stride?: number;
  padding?: number;
}

/** One engine call: a lib/ops.ts op by name and its arguments (what ops.timeKernel times). */
export interface KernelCall {
  op: string;
  args: object;
}

export interface OpEntry {
  /** Unique, e.g. "corner_pool_top", "conv2d_3x3_s2_p1". */
  name: string;
  /** Engine op names (backend.h op_name) the entry needs; a backend runs it only if it supports all. */
  engineOps: string[];
  cases: {
    /** Small: finite differences call the forward twice per input element. */
    test: OpCase[];
    /** Larger, odd sizes: cross-backend comparison on random inputs. */
    cross: OpCase[];
    /** Realistic CornerNet sizes, for timing. */
    bench: OpCase[];
  };
  makeInputs(c: OpCase, rng: Rng): Tensors;
  /** Forward outputs that the loss sum(y * gradY) is taken over; others (saved statistics) carry no gradient. */
  gradOutputs: string[];
  /** Inputs the backward returns gradients for, under the same names. */
  gradInputs: string[];
  /** The engine calls behind forward and backward (backward null: no engine kernel, see `backward`). */
  forwardCall(inputs: Tensors, c: OpCase): KernelCall;
  backwardCall(inputs: Tensors, outputs: Tensors, gradOutputs: Tensors, c: OpCase): KernelCall | null;
  /** Runs forwardCall through lib/ops.ts on `backend`. */
  forward(inputs: Tensors, c: OpCase, backend: string): Tensors;
  /** Runs backwardCall and names the gradients after the inputs. */
  backward(inputs: Tensors, outputs: Tensors, gradOutputs: Tensors, c: OpCase, backend: string): Tensors;
  tolerance: {
    /** Any backend against the CPU on the same inputs. */
    crossBackend: Tolerance;
    /** Backward against central differences with step h. */
    gradcheck: Tolerance;
    h: number;
  };
}

let engineJsNames: Set<string> | undefined;

/** The binding names of the engine's op list (native/engine/ops.def). */
export function engineOpNames(): Set<string> {
  engineJsNames ??= new Set(native().engineOps().map((o) => o.js));
  return engineJsNames;
}

/** Runs a KernelCall: `call.op` must be an op of the engine's list. */
export function runCall(call: KernelCall, backend: string): Tensors {
  if (!engineOpNames().has(call.op)) throw new Error(`op_table: '${call.op}' is not an op of the engine's list`);
  const f = native().ops[call.op] as NativeOpFn;
  return f(call.args as Record<string, unknown>, backend) as Tensors;
}

type EntrySpec = Omit<OpEntry, 'forward' | 'backward'> & {
  /** The backward call's outputs (empty when backwardCall is null) renamed after the inputs. */
  grads(result: Tensors, gradOutputs: Tensors, inputs: Tensors): Tensors;
};

function entry(spec: EntrySpec): OpEntry {
  const { grads, ...rest } = spec;
  return {
    ...rest,
    forward: (i, c, backend) => runCall(spec.forwardCall(i, c), backend),
    backward: (i, o, g, c, backend) => {
      const call = spec.backwardCall(i, o, g, c);
      return grads(call ? runCall(call, backend) : {}, g, i);
    },
  };
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function randomNormal(shape: number[], rng: Rng, scale = 1): TensorData {
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; ++i) d[i] = rng.normal() * scale;
  return { data: d, shape: [...shape] };
}

export function randomUniform(shape: number[], rng: Rng, lo: number, hi: number): TensorData {
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; ++i) d[i] = rng.uniform(lo, hi);
  return { data: d, shape: [...shape] };
}

/**
 * Distinct values `spacing` apart in random order: the max-based ops have no
 * ties, and a finite-difference step below spacing/2 never changes an argmax.
 */
export function distinctValues(shape: number[], rng: Rng, spacing: number): TensorData {
  const n = numel(shape);
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const d = new Float32Array(n);
  for (let i = 0; i < n; ++i) d[i] = (order[i]! - n / 2) * spacing;
  return { data: d, shape: [...shape] };
}

/** Values with |v| >= gap: away from ReLU's kink. */
function awayFromZero(shape: number[], rng: Rng, gap: number): TensorData {
  const t = randomUniform(shape, rng, gap, 1);
  for (let i = 0; i < t.data.length; ++i) if (rng.next() < 0.5) t.data[i] = -t.data[i]!;
  return t;
}

const need = (t: Tensors, name: string): TensorData => {
  const v = t[name];
  if (!v) throw new Error(`op_table: missing tensor '${name}'`);
  return v;
};

// Large enough to exercise the threaded and vectorised paths, with sizes that
// divide nothing evenly (tails of SIMD loops and of interleaved row groups).
const POOL_CROSS: OpCase[] = [{ x: [2, 5, 37, 43] }, { x: [1, 3, 19, 300] }, { x: [1, 1, 1, 1] }];
const POOL_TEST: OpCase[] = [{ x: [2, 3, 7, 6] }, { x: [1, 2, 5, 11] }];

const gradX = (r: Tensors): Tensors => ({ x: need(r, 'gradX') });
const gradXW = (r: Tensors): Tensors => ({ x: need(r, 'gradX'), weight: need(r, 'gradWeight') });
const gradXWB = (r: Tensors): Tensors => ({ x: need(r, 'gradX'), weight: need(r, 'gradWeight'), bias: need(r, 'gradBias') });

function cornerPool(mode: ops.CornerPoolMode): OpEntry {
  return entry({
    name: `corner_pool_${mode}`,
    engineOps: ['corner_pool_forward', 'corner_pool_backward'],
    cases: { test: POOL_TEST, cross: POOL_CROSS, bench: [{ x: [1, 256, 128, 128] }] },
    makeInputs: (c, rng) => ({ x: distinctValues(c.x, rng, 0.01) }),
    gradOutputs: ['y'],
    gradInputs: ['x'],
    forwardCall: (i) => ({ op: 'cornerPoolForward', args: { x: need(i, 'x'), mode } }),
    backwardCall: (i, _o, g) => ({ op: 'cornerPoolBackward', args: { x: need(i, 'x'), mode, gradY: need(g, 'y') } }),
    grads: gradX,
    // Backward sums the gradients of every output sharing an argmax; the CUDA
    // left/right kernels add them with atomics, in another order than the CPU.
    tolerance: { crossBackend: { rtol: 1e-5, atol: 1e-6 }, gradcheck: { rtol: 1e-3, atol: 1e-4 }, h: 1e-3 },
  });
}

/**
 * `bias: false` is a convolution without bias (what the models put before batch
 * norm): the binding gets `bias: null`, and gradients are checked for x and the
 * weight only.
 */
function conv2d(name: string, test: OpCase[], cross: OpCase[], bench: OpCase[], opts: { bias?: boolean } = {}): OpEntry {
  const withBias = opts.bias ?? true;
  const args = (i: Tensors, c: OpCase) => ({
    x: need(i, 'x'),
    weight: need(i, 'weight'),
    bias: withBias ? need(i, 'bias') : null,
    stride: c.stride ?? 1,
    padding: c.padding ?? 0,
  });
  return entry({
    name,
    engineOps: ['conv2d_forward', 'conv2d_backward'],
    cases: { test, cross, bench },
    makeInputs: (c, rng) => {
      if (!c.weight) throw new Error(`op_table: ${name}: case has no weight shape`);
      const fanIn = c.weight[1]! * c.weight[2]! * c.weight[3]!;
      const t: Tensors = { x: randomNormal(c.x, rng), weight: randomNormal(c.weight, rng, 1 / Math.sqrt(fanIn)) };
      if (withBias) t.bias = randomNormal([c.weight[0]!], rng, 0.1);
      return t;
    },
    gradOutputs: ['y'],
    gradInputs: withBias ? ['x', 'weight', 'bias'] : ['x', 'weight'],
    forwardCall: (i, c) => ({ op: 'conv2dForward', args: args(i, c) }),
    backwardCall: (i, _o, g, c) => ({ op: 'conv2dBackward', args: { ...args(i, c), gradY: need(g, 'y') } }),
    grads: withBias ? gradXWB : gradXW,
    tolerance: { crossBackend: { rtol: 1e-4, atol: 1e-4 }, gradcheck: { rtol: 1e-3, atol: 1e-3 }, h: 1e-2 },
  });
}

function bnInputs(c: OpCase, rng: Rng): Tensors {
  const C = c.x[1]!;
  const x = randomNormal(c.x, rng);
  // Per-channel offsets and scales, so the statistics differ between channels.
  const hw = c.x[2]! * c.x[3]!;
  for (let i = 0; i < x.data.length; ++i) {
    const ch = Math.floor(i / hw) % C;
    x.data[i] = x.data[i]! * (0.5 + 0.25 * ch) + 0.3 * ch - 0.5;
  }
  return {
    x,
    weight: randomUniform([C], rng, 0.5, 1.5),
    bias: randomNormal([C], rng, 0.2),
    runningMean: randomNormal([C], rng, 0.1),
    runningVar: randomUniform([C], rng, 0.5, 2),
  };
}

const BN_TEST: OpCase[] = [{ x: [3, 2, 4, 5] }, { x: [2, 3, 3, 3] }];
// The last spans several slices per channel in the CUDA reduction, over two images.
const BN_CROSS: OpCase[] = [{ x: [4, 7, 19, 23] }, { x: [1, 3, 64, 65] }, { x: [2, 3, 40, 53] }];
const BN_BENCH: OpCase[] = [{ x: [4, 256, 64, 64] }];
const BN_EPS = 1e-5;

// Inputs of BN + ReLU: every pre-activation at least ~0.1 from the ReLU's kink,
// farther than a finite-difference step moves it. Each channel holds a set of
// values symmetric around 0 with a gap of +-0.4 (so its mean is 0 and its
// normalised values skip (-0.4, 0.4) / std), scaled and offset per channel;
// the bias stays within +-0.1 of 0 and the running statistics near the batch's.
function bnReluInputs(c: OpCase, rng: Rng): Tensors {
  const [N, C, H, W] = c.x as [number, number, number, number];
  const HW = H * W, M = N * HW;
  const x = { data: new Float32Array(N * C * HW), shape: [...c.x] };
  const runningMean = new Float32Array(C), runningVar = new Float32Array(C);
  for (let ch = 0; ch < C; ++ch) {
    const pairs = Math.ceil(M / 2), scale = 0.5 + 0.25 * ch, offset = 0.3 * ch - 0.5;
    const v = Array.from({ length: M }, (_, k) => (k % 2 ? -1 : 1) * (0.4 + (1.2 * (Math.floor(k / 2) + 0.5)) / pairs));
    const order = rng.shuffle(Array.from({ length: M }, (_, k) => k));
    let sq = 0;
    for (let k = 0; k < M; ++k) {
      const at = (Math.floor(order[k]! / HW) * C + ch) * HW + (order[k]! % HW);
      x.data[at] = v[k]! * scale + offset;
      sq += (v[k]! * scale) ** 2;
    }
    runningMean[ch] = offset + 0.01 * scale * rng.uniform(-1, 1);
    runningVar[ch] = (sq / M) * (1 + 0.025 * rng.uniform(-1, 1));
  }
  return {
    x,
    weight: randomUniform([C], rng, 0.5, 1.5),
    bias: randomUniform([C], rng, -0.1, 0.1),
    runningMean: { data: runningMean, shape: [C] },
    runningVar: { data: runningVar, shape: [C] },
  };
}

const bnArgs = (i: Tensors, relu: boolean) => ({
  x: need(i, 'x'),
  weight: need(i, 'weight'),
  bias: need(i, 'bias'),
  runningMean: need(i, 'runningMean'),
  runningVar: need(i, 'runningVar'),
  eps: BN_EPS,
  momentum: 0.1,
  relu,
});

// Batch norm in training or inference mode, alone or with the ReLU after it in
// the same pass (`relu`: the backward then recomputes the ReLU's mask).
function batchNorm(mode: 'train' | 'eval', relu: boolean): OpEntry {
  const train = mode === 'train';
  return entry({
    name: `batch_norm${relu ? '_relu' : ''}_${mode}`,
    engineOps: [train ? 'batch_norm_forward_train' : 'batch_norm_forward_eval', 'batch_norm_backward'],
    cases: { test: BN_TEST, cross: BN_CROSS, bench: BN_BENCH },
    makeInputs: relu ? bnReluInputs : bnInputs,
    gradOutputs: ['y'],
    gradInputs: ['x', 'weight', 'bias'],
    forwardCall: (i) => ({ op: train ? 'batchNormForwardTrain' : 'batchNormForwardEval', args: bnArgs(i, relu) }),
    backwardCall: (i, o, g) => {
      // Inference mode: the running statistics are the constants the forward used.
      const rv = need(i, 'runningVar');
      const invstd = new Float32Array(rv.data.length);
      for (let c = 0; c < invstd.length; ++c) invstd[c] = 1 / Math.sqrt(rv.data[c]! + BN_EPS);
      return {
        op: 'batchNormBackward',
        args: {
          x: need(i, 'x'),
          weight: need(i, 'weight'),
          bias: need(i, 'bias'),
          saveMean: train ? need(o, 'saveMean') : need(i, 'runningMean'),
          saveInvstd: train ? need(o, 'saveInvstd') : { data: invstd, shape: [...rv.shape] },
          gradY: need(g, 'y'),
          training: train,
          relu,
        },
      };
    },
    grads: gradXWB,
    tolerance: train
      ? { crossBackend: { rtol: 1e-4, atol: 1e-5 }, gradcheck: { rtol: 1e-2, atol: 1e-3 }, h: 1e-2 }
      : { crossBackend: { rtol: 1e-5, atol: 1e-6 }, gradcheck: { rtol: 1e-3, atol: 1e-4 }, h: 1e-2 },
  });
}

// relu and sigmoid: the backward op takes the forward output, not the input.
// `op` is both the binding's stem and the engine op's stem.
function unary(
  name: string,
  op: string,
  make: (c: OpCase, rng: Rng) => Tensors,
  tolerance: OpEntry['tolerance'],
  cases: OpEntry['cases'] = { test: [{ x: [2, 3, 4, 5] }], cross: [{ x: [3, 7, 33, 65] }, { x: [1, 1, 1, 1] }], bench: [{ x: [1, 256, 128, 128] }] }
): OpEntry {
  return entry({
    name,
    engineOps: [`${op}_forward`, `${op}_backward`],
    cases,
    makeInputs: make,
    gradOutputs: ['y'],
    gradInputs: ['x'],
    forwardCall: (i) => ({ op: `${op}Forward`, args: { x: need(i, 'x') } }),
    backwardCall: (_i, o, g) => ({ op: `${op}Backward`, args: { y: need(o, 'y'), gradY: need(g, 'y') } }),
    grads: gradX,
    tolerance,
  });
}

// ---- CornerNet targets and losses -------------------------------------------
// Case x = [N, C, H, W]: batch, classes, head output size; the padded input is
// 4H x 4W. Image 1 (when there is one) has no box; every other image has one to
// five random boxes and one reaching the far border.

/** Random boxes as the cornerTargets binding takes them: boxes [K, 4], labels [K], imageIndex [K]. */
function boxTensors(c: OpCase, rng: Rng): Tensors {
  const [N, C, H, W] = c.x as [number, number, number, number];
  const ph = 4 * H, pw = 4 * W;
  const boxes: number[] = [], labels: number[] = [], image: number[] = [];
  for (let n = 0; n < N; ++n) {
    if (n === 1) continue;
    const k = 1 + rng.int(5);
    for (let j = 0; j <= k; ++j) {
      const x1 = rng.uniform(0, pw * 0.8), y1 = rng.uniform(0, ph * 0.8);
      const border = j === k;
      boxes.push(x1, y1, border ? pw : Math.min(pw, x1 + rng.uniform(1, pw * 0.6)), border ? ph : Math.min(ph, y1 + rng.uniform(1, ph * 0.6)));
      labels.push(rng.int(C));
      image.push(n);
    }
  }
  const K = labels.length;
  return {
    boxes: { data: Float32Array.from(boxes), shape: [K, 4] },
    labels: { data: Float32Array.from(labels), shape: [K] },
    imageIndex: { data: Float32Array.from(image), shape: [K] },
  };
}

function targetArgs(i: Tensors, c: OpCase): ops.CornerTargetsArgs {
  const [N, C, H, W] = c.x as [number, number, number, number];
  const images: ops.ImageBoxes[] = Array.from({ length: N }, () => ({ boxes: [], labels: [] }));
  const b = need(i, 'boxes').data, l = need(i, 'labels').data, im = need(i, 'imageIndex').data;
  for (let k = 0; k < l.length; ++k) {
    const img = images[im[k]!]!;
    img.boxes.push([b[4 * k]!, b[4 * k + 1]!, b[4 * k + 2]!, b[4 * k + 3]!]);
    img.labels.push(l[k]!);
  }
  return { images, numClasses: C, featureSize: [H, W], padSize: [4 * H, 4 * W] };
}

/** Embedding pairs as the bindings take them: [K, 5] rows (image, tl_y, tl_x, br_y, br_x). */
function matchTensor(match: ops.CornerMatch[][]): TensorData {
  const rows: number[] = [];
  match.forEach((objs, n) => objs.forEach(([[ty, tx], [by, bx]]) => rows.push(n, ty, tx, by, bx)));
  return { data: Float32Array.from(rows), shape: [rows.length / 5, 5] };
}

function matchLists(t: TensorData, N: number): ops.CornerMatch[][] {
  const out: ops.CornerMatch[][] = Array.from({ length: N }, () => []);
  for (let r = 0; r < t.shape[0]!; ++r) {
    const [n, ty, tx, by, bx] = Array.from(t.data.subarray(5 * r, 5 * r + 5));
    out[n!]!.push([[ty!, tx!], [by!, bx!]]);
  }
  return out;
}

const TARGET_KEYS = ['tlHeatmap', 'brHeatmap', 'tlOffset', 'brOffset', 'tlMask', 'brMask'] as const;

const cornerTargetsEntry: OpEntry = {
  name: 'corner_targets',
  engineOps: ['corner_targets'],
  cases: {
    test: [{ x: [2, 2, 4, 5] }],
    cross: [{ x: [3, 3, 13, 17] }, { x: [1, 1, 1, 1] }],
    bench: [{ x: [8, 80, 128, 128] }],
  },
  makeInputs: boxTensors,
  gradOutputs: [],
  gradInputs: [],
  forwardCall: (i, c) => {
    const [N, C, H, W] = c.x as [number, number, number, number];
    return {
      op: 'cornerTargets',
      args: { ...i, batchSize: N, numClasses: C, featureSize: [H, W], padSize: [4 * H, 4 * W] },
    };
  },
  backwardCall: () => null,
  forward: (i, c, backend) => {
    const t = ops.cornerTargets(targetArgs(i, c), { backend });
    return { ...Object.fromEntries(TARGET_KEYS.map((k) => [k, t[k]])), match: matchTensor(t.match) };
  },
  backward: () => ({}),
  // Exact: the same per-box numbers and Gaussian values, merged by max.
  tolerance: { crossBackend: { rtol: 0, atol: 0 }, gradcheck: { rtol: 0, atol: 0 }, h: 1e-2 },
};

const HEAD_KEYS = ['tlHeat', 'brHeat', 'tlEmb', 'brEmb', 'tlOff', 'brOff'] as const;

/** Native-format arguments of cornerHeadLosses (match as a [K, 5] tensor). */
function headLossArgs(i: Tensors) {
  return {
    ...Object.fromEntries(HEAD_KEYS.map((k) => [k, need(i, k)])),
    ...Object.fromEntries(['tlHeatmap', 'brHeatmap', 'tlOffset', 'brOffset'].map((k) => [k, need(i, k)])),
    match: need(i, 'match'),
  };
}

function runHeadLosses(i: Tensors, backend: string): ops.CornerHeadLossResult {
  const a = headLossArgs(i) as unknown as ops.CornerHeadLossArgs & { match: unknown };
  return ops.cornerHeadLosses({ ...a, match: matchLists(need(i, 'match'), need(i, 'tlHeat').shape[0]!) }, { backend });
}

const cornerHeadLossesEntry: OpEntry = {
  name: 'corner_head_losses',
  engineOps: ['corner_head_losses'],
  cases: {
    test: [{ x: [2, 2, 3, 4] }],  // finite differences run on cuda-emu too: kept small
    cross: [{ x: [3, 3, 13, 17] }, { x: [1, 1, 1, 1] }],
    bench: [{ x: [8, 80, 128, 128] }],
  },
  makeInputs: (c, rng) => {
    const [N, C, H, W] = c.x as [number, number, number, number];
    const boxes = boxTensors(c, rng);
    const t = ops.cornerTargets(targetArgs(boxes, c));
    return {
      tlHeat: randomNormal([N, C, H, W], rng, 3),
      brHeat: randomNormal([N, C, H, W], rng, 3),
      tlEmb: randomNormal([N, 1, H, W], rng),
      brEmb: randomNormal([N, 1, H, W], rng),
      tlOff: randomUniform([N, 2, H, W], rng, -1, 2),
      brOff: randomUniform([N, 2, H, W], rng, -1, 2),
      tlHeatmap: t.tlHeatmap,
      brHeatmap: t.brHeatmap,
      tlOffset: t.tlOffset,
      brOffset: t.brOffset,
      match: matchTensor(t.match),
    };
  },
  // total = det + off + pull + push: the op gives the gradient of the sum.
  gradOutputs: ['total'],
  gradInputs: [...HEAD_KEYS],
  forwardCall: (i) => ({ op: 'cornerHeadLosses', args: headLossArgs(i) }),
  backwardCall: (i) => ({ op: 'cornerHeadLosses', args: headLossArgs(i) }),
  forward: (i, _c, backend) => {
    const r = runHeadLosses(i, backend);
    return { total: { data: Float32Array.of(r.det + r.off + r.pull + r.push), shape: [1] } };
  },
  backward: (i, _o, g, _c, backend) => {
    const r = runHeadLosses(i, backend);
    const s = need(g, 'total').data[0]!;
    const scaled = (t: TensorData): TensorData => ({ data: t.data.map((v) => v * s), shape: t.shape });
    return {
      tlHeat: scaled(r.gradTlHeat), brHeat: scaled(r.gradBrHeat), tlEmb: scaled(r.gradTlEmb),
      brEmb: scaled(r.gradBrEmb), tlOff: scaled(r.gradTlOff), brOff: scaled(r.gradBrOff),
    };
  },
  // Sums in double in another order, transcendentals rounded from double.
  tolerance: { crossBackend: { rtol: 1e-5, atol: 1e-7 }, gradcheck: { rtol: 1e-2, atol: 1e-3 }, h: 1e-2 },
};
// Flat tensors of several sizes: vector loops' tails, one element, and a size
// that spans several reduction blocks.
const FLAT_TEST: OpCase[] = [{ x: [3, 5] }, { x: [1] }];
const FLAT_CROSS: OpCase[] = [{ x: [7, 1031] }, { x: [100003] }, { x: [1] }];
const FLAT_BENCH: OpCase[] = [{ x: [4194304] }];

/**
 * Few distinct values, so windows hold ties, plus NaN, infinities and signed
 * zeros: the max-based ops must pick the same element as the CPU exactly.
 */
function tiesAndSpecials(shape: number[], rng: Rng): TensorData {
  const common = [0, -0, 1, 2, 2, -1];
  const d = new Float32Array(numel(shape));
  for (let i = 0; i < d.length; ++i) {
    const u = rng.next();
    // Rare enough that most windows hold no NaN and their ties decide.
    d[i] = u < 0.03 ? NaN : u < 0.06 ? Infinity : u < 0.09 ? -Infinity : common[Math.floor(rng.next() * common.length)]!;
  }
  return { data: d, shape: [...shape] };
}

/** Normal values with NaN, infinities, signed zeros, subnormals and large magnitudes mixed in. */
function withSpecials(shape: number[], rng: Rng): TensorData {
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 90, -90, 1e30, -1e30];
  const t = randomNormal(shape, rng, 3);
  for (let i = 0; i < t.data.length; ++i) if (rng.next() < 0.2) t.data[i] = specials[Math.floor(rng.next() * specials.length)]!;
  return t;
}

// Special values are compared with the CPU only (finite differences need smooth inputs).
const SPECIAL_CASES = { test: [] as OpCase[], cross: [{ x: [2, 3, 7, 11] }, { x: [1, 1, 1, 1] }], bench: [] as OpCase[] };

function adam(name: string, hyper: { lr: number; step: number; weightDecay?: number; gradScale?: number }): OpEntry {
  return entry({
    name,
    engineOps: ['adam_update'],
    cases: { test: FLAT_TEST, cross: FLAT_CROSS, bench: FLAT_BENCH },
    makeInputs: (c, rng) => ({
      param: randomNormal(c.x, rng),
      grad: randomNormal(c.x, rng),
      expAvg: randomNormal(c.x, rng, 0.1),
      expAvgSq: randomUniform(c.x, rng, 0, 0.01),
    }),
    // An optimizer step, not a differentiable op: compared across backends only.
    gradOutputs: [],
    gradInputs: [],
    forwardCall: (i) => ({
      op: 'adamUpdate',
      args: { param: need(i, 'param'), grad: need(i, 'grad'), expAvg: need(i, 'expAvg'), expAvgSq: need(i, 'expAvgSq'), ...hyper },
    }),
    backwardCall: () => null,
    grads: () => ({}),
    // The CPU's order of operations without FMA contraction, IEEE division and
    // square root: backends agree to the bit; the bound allows one float ulp.
    tolerance: { crossBackend: { rtol: 1.2e-7, atol: 0 }, gradcheck: { rtol: 0, atol: 0 }, h: 0 },
  });
}

export const OP_TABLE: OpEntry[] = [
  unary('relu', 'relu', (c, rng) => ({ x: awayFromZero(c.x, rng, 0.05) }), {
    crossBackend: { rtol: 0, atol: 0 },
    gradcheck: { rtol: 1e-3, atol: 1e-4 },
    h: 1e-3,
  }),
  unary('sigmoid', 'sigmoid', (c, rng) => ({ x: randomNormal(c.x, rng, 3) }), {
    crossBackend: { rtol: 1e-5, atol: 1e-7 },
    gradcheck: { rtol: 1e-3, atol: 1e-4 },
    h: 1e-2,
  }),
  entry({
    name: 'add',
    engineOps: ['add_forward'],
    cases: { test: [{ x: [2, 3, 4, 5] }], cross: [{ x: [3, 7, 33, 65] }], bench: [{ x: [1, 256, 128, 128] }] },
    makeInputs: (c, rng) => ({ a: randomNormal(c.x, rng), b: randomNormal(c.x, rng) }),
    gradOutputs: ['y'],
    gradInputs: ['a', 'b'],
    forwardCall: (i) => ({ op: 'addForward', args: { a: need(i, 'a'), b: need(i, 'b') } }),
    // The engine has no add backward: the gradient reaches both operands unchanged.
    backwardCall: () => null,
    grads: (_r, g) => ({ a: need(g, 'y'), b: need(g, 'y') }),
    tolerance: { crossBackend: { rtol: 0, atol: 0 }, gradcheck: { rtol: 1e-3, atol: 1e-4 }, h: 1e-2 },
  }),
  // NaN passes through relu (and gets no gradient), sigmoid keeps it; +-inf,
  // +-0, subnormals and saturating inputs as on the CPU.
  unary('relu_special_values', 'relu', (c, rng) => ({ x: withSpecials(c.x, rng) }), {
    crossBackend: { rtol: 0, atol: 0 },
    gradcheck: { rtol: 0, atol: 0 },
    h: 0,
  }, SPECIAL_CASES),
  unary('sigmoid_special_values', 'sigmoid', (c, rng) => ({ x: withSpecials(c.x, rng) }), {
    crossBackend: { rtol: 1e-5, atol: 1e-7 },
    gradcheck: { rtol: 0, atol: 0 },
    h: 0,
  }, SPECIAL_CASES),
  batchNorm('train', false),
  batchNorm('eval', false),
  batchNorm('train', true),
  batchNorm('eval', true),
  entry({
    name: 'upsample2x',
    engineOps: ['upsample2x_forward', 'upsample2x_backward'],
    cases: { test: POOL_TEST, cross: POOL_CROSS, bench: [{ x: [1, 256, 64, 64] }] },
    makeInputs: (c, rng) => ({ x: randomNormal(c.x, rng) }),
    gradOutputs: ['y'],
    gradInputs: ['x'],
    forwardCall: (i) => ({ op: 'upsample2xForward', args: { x: need(i, 'x') } }),
    backwardCall: (_i, _o, g) => ({ op: 'upsample2xBackward', args: { gradY: need(g, 'y') } }),
    grads: gradX,
    tolerance: { crossBackend: { rtol: 1e-6, atol: 1e-6 }, gradcheck: { rtol: 1e-3, atol: 1e-4 }, h: 1e-2 },
  }),
  entry({
    name: 'maxpool3x3',
    engineOps: ['maxpool3x3_forward', 'maxpool3x3_backward'],
    cases: { test: POOL_TEST, cross: POOL_CROSS, bench: [{ x: [1, 80, 128, 128] }] },
    makeInputs: (c, rng) => ({ x: distinctValues(c.x, rng, 0.01) }),
    gradOutputs: ['y'],
    gradInputs: ['x'],
    forwardCall: (i) => ({ op: 'maxPool3x3Forward', args: { x: need(i, 'x') } }),
    backwardCall: (i, _o, g) => ({ op: 'maxPool3x3Backward', args: { x: need(i, 'x'), gradY: need(g, 'y') } }),
    grads: gradX,
    tolerance: { crossBackend: { rtol: 1e-6, atol: 1e-6 }, gradcheck: { rtol: 1e-3, atol: 1e-4 }, h: 1e-3 },
  }),
  entry({
    // Ties (the first maximum in row-major order takes the gradient), NaN (it
    // wins, the last NaN of a window taking the gradient), infinities, signed
    // zeros, and thin or tiny planes: exactly the CPU's values and gradients.
    name: 'maxpool3x3_ties_nan',
    engineOps: ['maxpool3x3_forward', 'maxpool3x3_backward'],
    cases: {
      test: [],
      cross: [{ x: [2, 3, 7, 6] }, { x: [1, 2, 1, 7] }, { x: [1, 1, 13, 1] }, { x: [2, 3, 2, 2] }, { x: [1, 2, 17, 19] }, { x: [1, 1, 1, 1] }],
      bench: [],
    },
    makeInputs: (c, rng) => ({ x: tiesAndSpecials(c.x, rng) }),
    gradOutputs: ['y'],
    gradInputs: ['x'],
    forwardCall: (i) => ({ op: 'maxPool3x3Forward', args: { x: need(i, 'x') } }),
    backwardCall: (i, _o, g) => ({ op: 'maxPool3x3Backward', args: { x: need(i, 'x'), gradY: need(g, 'y') } }),
    grads: gradX,
    tolerance: { crossBackend: { rtol: 0, atol: 0 }, gradcheck: { rtol: 0, atol: 0 }, h: 0 },
  }),
  cornerPool('top'),
  cornerPool('bottom'),
  cornerPool('left'),
  cornerPool('right'),
  conv2d(
    'conv2d_3x3_s1_p1',
    [{ x: [1, 2, 5, 6], weight: [3, 2, 3, 3], stride: 1, padding: 1 }],
    [{ x: [2, 13, 17, 19], weight: [9, 13, 3, 3], stride: 1, padding: 1 }],
    [{ x: [1, 256, 64, 64], weight: [256, 256, 3, 3], stride: 1, padding: 1 }]
  ),
  conv2d(
    'conv2d_3x3_s2_p1',
    [{ x: [2, 2, 7, 6], weight: [2, 2, 3, 3], stride: 2, padding: 1 }],
    [{ x: [2, 13, 17, 19], weight: [9, 13, 3, 3], stride: 2, padding: 1 }],
    [{ x: [1, 256, 64, 64], weight: [384, 256, 3, 3], stride: 2, padding: 1 }]
  ),
  conv2d(
    'conv2d_7x7_s2_p3',
    [{ x: [1, 2, 9, 8], weight: [2, 2, 7, 7], stride: 2, padding: 3 }],
    [{ x: [1, 3, 37, 41], weight: [8, 3, 7, 7], stride: 2, padding: 3 }],
    [{ x: [1, 3, 511, 511], weight: [128, 3, 7, 7], stride: 2, padding: 3 }]
  ),
  conv2d(
    'conv2d_1x1',
    [{ x: [2, 3, 4, 5], weight: [4, 3, 1, 1], stride: 1, padding: 0 }],
    // The second cross case has more than 64 channels in and out: several tiles
    // along every dimension of the CUDA kernels' GEMMs.
    [
      { x: [2, 21, 13, 11], weight: [17, 21, 1, 1], stride: 1, padding: 0 },
      { x: [1, 70, 9, 11], weight: [67, 70, 1, 1], stride: 1, padding: 0 },
    ],
    [{ x: [1, 256, 128, 128], weight: [256, 256, 1, 1], stride: 1, padding: 0 }]
  ),
  // The skip branch of HourglassNet's downsampling residual blocks.
  conv2d(
    'conv2d_1x1_s2',
    [{ x: [2, 3, 5, 6], weight: [4, 3, 1, 1], stride: 2, padding: 0 }],
    [{ x: [2, 21, 13, 12], weight: [17, 21, 1, 1], stride: 2, padding: 0 }],
    [{ x: [1, 256, 128, 128], weight: [384, 256, 1, 1], stride: 2, padding: 0 }]
  ),
  // Convolutions followed by batch norm have no bias (most of the network).
  conv2d(
    'conv2d_3x3_s1_p1_nobias',
    [{ x: [1, 2, 5, 6], weight: [3, 2, 3, 3], stride: 1, padding: 1 }],
    [{ x: [2, 13, 17, 19], weight: [9, 13, 3, 3], stride: 1, padding: 1 }],
    [{ x: [1, 256, 64, 64], weight: [256, 256, 3, 3], stride: 1, padding: 1 }],
    { bias: false }
  ),
  entry({
    name: 'copy',
    engineOps: ['copy'],
    cases: { test: FLAT_TEST, cross: FLAT_CROSS, bench: FLAT_BENCH },
    makeInputs: (c, rng) => ({ x: randomNormal(c.x, rng) }),
    gradOutputs: ['y'],
    gradInputs: ['x'],
    forwardCall: (i) => ({ op: 'copy', args: { x: need(i, 'x') } }),
    backwardCall: () => null,
    grads: (_r, g) => ({ x: need(g, 'y') }),
    tolerance: { crossBackend: { rtol: 0, atol: 0 }, gradcheck: { rtol: 1e-3, atol: 1e-4 }, h: 1e-2 },
  }),
  entry({
    name: 'sum_squares',
    engineOps: ['sum_squares'],
    cases: { test: FLAT_TEST, cross: FLAT_CROSS, bench: FLAT_BENCH },
    makeInputs: (c, rng) => ({ x: randomNormal(c.x, rng) }),
    gradOutputs: ['y'],
    gradInputs: ['x'],
    forwardCall: (i) => ({ op: 'sumSquares', args: { x: need(i, 'x') } }),
    // No engine backward: d(sum x^2)/dx = 2x, checked against finite differences of the engine's forward.
    backwardCall: () => null,
    grads: (_r, g, i) => {
      const x = need(i, 'x');
      const gy = need(g, 'y').data[0]!;
      return { x: { data: x.data.map((v) => 2 * v * gy), shape: [...x.shape] } };
    },
    // Accumulated in double on every backend, in another order: float rounding of the result only.
    tolerance: { crossBackend: { rtol: 1e-6, atol: 0 }, gradcheck: { rtol: 1e-3, atol: 1e-3 }, h: 1e-2 },
  }),
  entry({
    name: 'axpy',
    engineOps: ['axpy'],
    cases: { test: FLAT_TEST, cross: FLAT_CROSS, bench: FLAT_BENCH },
    makeInputs: (c, rng) => ({ x: randomNormal(c.x, rng), y: randomNormal(c.x, rng) }),
    gradOutputs: ['y'],
    gradInputs: ['x', 'y'],
    forwardCall: (i) => ({ op: 'axpy', args: { alpha: -0.75, x: need(i, 'x'), y: need(i, 'y') } }),
    backwardCall: () => null,
    grads: (_r, g) => {
      const gy = need(g, 'y');
      return { x: { data: gy.data.map((v) => -0.75 * v), shape: [...gy.shape] }, y: gy };
    },
    // One multiply and one add per element, never fused into an FMA (the CUDA
    // kernel uses __fmul_rn/__fadd_rn): every backend rounds as the CPU does.
    tolerance: { crossBackend: { rtol: 0, atol: 0 }, gradcheck: { rtol: 1e-3, atol: 1e-4 }, h: 1e-2 },
  }),
  adam('adam_update', { lr: 1e-3, weightDecay: 1e-4, gradScale: 0.5, step: 7 }),
  // The first step (largest bias correction), no weight decay (its own branch), no gradient scale.
  adam('adam_update_first_step', { lr: 1e-2, step: 1 }),
  cornerTargetsEntry,
  cornerHeadLossesEntry,
];


// ---- decode: the whole test-time path, returning host detections ----------------
// Not differentiable and not tensor-in/tensor-out: its outputs (per image: boxes,
// scores, labels, corner scores, and the pre-NMS list) have data-dependent sizes.
// Compared across backends exactly: every backend must give the CPU's detections
// bit for bit (native/cuda/decode.cu follows native/decode's float32 steps).
const DECODE_TEST: OpCase[] = [{ x: [1, 3, 9, 11] }];
const DECODE_CROSS: OpCase[] = [{ x: [2, 3, 13, 17] }, { x: [1, 1, 1, 3] }];
const DECODE_BENCH: OpCase[] = [{ x: [1, 80, 128, 128] }];

interface DecodedLists {
  boxes: Float32Array;
  scores: Float32Array;
  labels: Int32Array;
  cornerScores: Float32Array;
  preNms?: DecodedLists;
}

function decodeCall(i: Tensors, c: OpCase): KernelCall {
  const [, C, H, W] = c.x as [number, number, number, number];
  const h = 4 * H, w = 4 * W;
  return {
    op: 'decode',
    args: {
      ...i,
      meta: { padShape: [h, w], imgShape: [h - 3, w - 5], border: [1, h - 2, 2, w - 3] },
      k: Math.min(20, C * H * W),
      numDets: 200,
      distanceThreshold: 0.75,
      returnPreNms: true,
    },
  };
}

function decodedTensors(images: DecodedLists[]): Tensors {
  const out: Tensors = {};
  const put = (prefix: string, d: DecodedLists) => {
    const n = d.scores.length;
    out[`${prefix}boxes`] = { data: d.boxes, shape: [n, 4] };
    out[`${prefix}scores`] = { data: d.scores, shape: [n] };
    out[`${prefix}labels`] = { data: Float32Array.from(d.labels), shape: [n] };
    out[`${prefix}cornerScores`] = { data: d.cornerScores, shape: [n, 2] };
  };
  images.forEach((d, j) => {
    put(`image${j}.`, d);
    if (d.preNms) put(`image${j}.preNms.`, d.preNms);
  });
  return out;
}

const decodeEntry: OpEntry = {
  name: 'decode',
  engineOps: ['decode'],
  cases: { test: DECODE_TEST, cross: DECODE_CROSS, bench: DECODE_BENCH },
  makeInputs: (c, rng) => {
    const [n, C, H, W] = c.x as [number, number, number, number];
    // Logits on a coarse grid (ties in scores and plateaus), embeddings on a coarse grid (equal embeddings).
    const heat = () => {
      const t = randomUniform([n, C, H, W], rng, -6, 3);
      t.data.forEach((v, k) => (t.data[k] = Math.round(v * 2) / 2));
      return t;
    };
    const emb = () => {
      const t = randomUniform([n, 1, H, W], rng, 0, 2);
      t.data.forEach((v, k) => (t.data[k] = Math.round(v * 4) / 4));
      return t;
    };
    return {
      tlHeat: heat(),
      brHeat: heat(),
      tlEmb: emb(),
      brEmb: emb(),
      tlOff: randomUniform([n, 2, H, W], rng, 0, 1),
      brOff: randomUniform([n, 2, H, W], rng, 0, 1),
    };
  },
  gradOutputs: [],
  gradInputs: [],
  forwardCall: decodeCall,
  backwardCall: () => null,
  forward: (i, c, backend) => decodedTensors(runCall(decodeCall(i, c), backend) as unknown as DecodedLists[]),
  backward: () => ({}),
  tolerance: { crossBackend: { rtol: 0, atol: 0 }, gradcheck: { rtol: 0, atol: 0 }, h: 0 },
};
OP_TABLE.push(decodeEntry);

export function findEntry(name: string): OpEntry {
  const e = OP_TABLE.find((x) => x.name === name);
  if (!e) throw new Error(`op_table: no entry '${name}' (have: ${OP_TABLE.map((x) => x.name).join(', ')})`);
  return e;
}

/** A label for a case: "2x3x7x6" or "2x3x7x6 w3x2x3x3 s1 p1". */
export function caseLabel(c: OpCase): string {
  const x = c.x.join('x');
  return c.weight ? `${x} w${c.weight.join('x')} s${c.stride ?? 1} p${c.padding ?? 0}` : x;
}

/** Random upstream gradients for the entry's gradient-carrying outputs. */
export function makeGradOutputs(entry: OpEntry, outputs: Tensors, rng: Rng): Tensors {
  const g: Tensors = {};
  for (const name of entry.gradOutputs) g[name] = randomNormal(need(outputs, name).shape, rng);
  return g;
}

/** Everything one timed or checked run needs: seeded inputs, forward outputs on `backend`, upstream gradients. */
export function prepare(entry: OpEntry, c: OpCase, seed: number, backend = 'cpu'): { inputs: Tensors; outputs: Tensors; gradOutputs: Tensors } {
  const rng = new Rng(seed);
  const inputs = entry.makeInputs(c, rng);
  const outputs = entry.forward(inputs, c, backend);
  return { inputs, outputs, gradOutputs: makeGradOutputs(entry, outputs, rng) };
}

const median = (ms: ArrayLike<number>) => {
  const s = Array.from(ms).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/**
 * Kernel-only timings of an entry on one case (median ms per run, via
 * ops.timeKernel: inputs uploaded and outputs allocated once). backwardMs is
 * null for entries without an engine backward.
 */
export function timeEntry(
  entry: OpEntry,
  c: OpCase,
  opts: { backend?: string; reps?: number; warmup?: number; seed?: number } = {}
): { forwardMs: number; backwardMs: number | null } {
  const backend = opts.backend ?? 'cpu';
  const { inputs, outputs, gradOutputs } = prepare(entry, c, opts.seed ?? 1, backend);
  const t = (call: KernelCall) => median(ops.timeKernel(call.op, call.args, { backend, reps: opts.reps ?? 10, warmup: opts.warmup ?? 2 }));
  const bwd = entry.backwardCall(inputs, outputs, gradOutputs, c);
  return { forwardMs: t(entry.forwardCall(inputs, c)), backwardMs: bwd ? t(bwd) : null };
}
