// One model's forward and backward time and the process's peak memory, for a
// preset, batch size and input size. Train mode (batch-statistics BN) records
// for backward; the head-output gradients are constants, so no loss is timed.
// Run: npx tsc -p tsconfig.json && node dist/bench/model_step.js [preset] [batch] [size] [iterations]
//   e.g. node dist/bench/model_step.js hourglass104 1 511 2
// Host tensors come from the engine's host pool (native/engine/caching_allocator.h),
// which never holds more than its in-use peak: the peak RSS follows live memory.
import { Model, type HeadOutputs } from '../lib/model';

export interface ModelStepResult {
  preset: string;
  parameters: number;
  input: number[];
  forwardMs: number;
  backwardMs: number;
  iterations: number;
  /** The process's high-water mark: run alone for a meaningful figure. */
  peakRssMiB: number;
}

export async function modelStep(preset: string, batch: number, size: number, iters: number): Promise<ModelStepResult> {
  const model = new Model(preset, { seed: 0 });
  let s = 1;
  const x = { data: Float32Array.from({ length: batch * 3 * size * size }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5), shape: [batch, 3, size, size] };
  const grads = model.outputShapes(x.shape).map(
    (level) => Object.fromEntries(Object.entries(level).map(([k, sh]) => [k, { data: new Float32Array(sh.reduce((a, b) => a * b, 1)).fill(1e-3), shape: sh }])) as HeadOutputs
  );
  const fwd: number[] = [], bwd: number[] = [];
  for (let i = 0; i < iters + 1; i++) {
    let t = process.hrtime.bigint();
    await model.forward(x, { train: true });
    const f = Number(process.hrtime.bigint() - t) / 1e6;
    t = process.hrtime.bigint();
    await model.backward(grads);
    const b = Number(process.hrtime.bigint() - t) / 1e6;
    if (i > 0 || iters === 0) {
      fwd.push(f);
      bwd.push(b);
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  return {
    preset,
    parameters: model.parameterCount(),
    input: x.shape,
    forwardMs: Math.round(median(fwd)),
    backwardMs: Math.round(median(bwd)),
    iterations: fwd.length,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

if (require.main === module) {
  const [preset = 'shapes-tiny', batch = '8', size = '128', iters = '3'] = process.argv.slice(2);
  void modelStep(preset, Number(batch), Number(size), Number(iters)).then((r) => console.log(JSON.stringify(r)));
}
