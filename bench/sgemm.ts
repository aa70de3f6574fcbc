// SGEMM 1024^3 on one thread and on all engine threads, against the fp32 FMA
// peak measured in the same process (fmaPeakGflops), so the ratio is the
// fraction of what this CPU can actually do right now. Twice: the engine's
// routine alone (sgemmGflops), and through ops.gemm, which adds a fresh 4 MB
// output tensor (and its page faults) per call.
import { native } from '../lib/native';
import { gemm, tensor } from '../lib/ops';
import { filled, time, type BenchContext, type BenchGroup, type BenchResult } from './harness';

const N = 1024;

async function run(group: string, allThreads: boolean, ctx: BenchContext): Promise<BenchResult[]> {
  const info = native().info();
  const threads = allThreads ? ctx.threads : 1;
  const label = `${threads} thread${threads === 1 ? '' : 's'}`;
  // Best of many short runs, like the timings it is compared with: on a shared
  // machine a long run always loses part of its time slice.
  let peak = 0;
  for (let i = 0; i < 25; i++) peak = Math.max(peak, native().fmaPeakGflops({ isa: info.isa, allThreads, seconds: 0.02 }));
  const a = tensor(filled(N * N, 1), [N, N]);
  const b = tensor(filled(N * N, 2), [N, N]);
  const t = await time(() => gemm({ a, b }), { warmup: 2, minReps: 5, minSeconds: 2 });
  const flops = 2 * N ** 3;
  const gflops = flops / (t.minMs * 1e6);
  const engine = native().sgemmGflops({ n: N, allThreads, reps: 30 });
  return [
    { group, name: `fp32 FMA peak (${info.isa}), ${label}`, metric: 'GFLOP/s', value: peak, details: { isa: info.isa } },
    {
      group,
      name: `SGEMM ${N}^3 in the engine (${info.isa}), ${label}`,
      metric: 'GFLOP/s',
      value: engine,
      reference: { value: peak, label: `measured FMA peak (target >= 70%)` },
      ratio: engine / peak,
    },
    {
      group,
      name: `SGEMM ${N}^3 through ops.gemm (${info.isa}), ${label}`,
      metric: 'GFLOP/s',
      value: gflops,
      reference: { value: peak, label: `measured FMA peak (target >= 70%)` },
      ratio: gflops / peak,
      details: { minMs: t.minMs, medianMs: t.medianMs, cpuMs: t.cpuMs, reps: t.reps, medianGflops: flops / (t.medianMs * 1e6) },
    },
  ];
}

export const sgemmGroups: BenchGroup[] = [
  {
    name: 'sgemm-1t',
    description: `SGEMM ${N}^3 on one engine thread vs the one-core FMA peak`,
    threads: 1,
    run: (ctx) => run('sgemm-1t', false, ctx),
  },
  {
    name: 'sgemm',
    description: `SGEMM ${N}^3 on all engine threads vs the all-core FMA peak`,
    run: (ctx) => run('sgemm', true, ctx),
  },
];
