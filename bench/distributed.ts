// Scaling of CPU ranks (mpirun, MPI all-reduce of the gradients) on this machine:
// shapes-tiny trainer steps on in-memory batches of 128x128 images, each
// configuration in its own processes so that each gets its engine thread count:
//   1 process, 1 thread, batch B             the per-rank base
//   2 ranks (mpirun), 1 thread each, B each  global batch 2B: its images/s against
//                                            twice the base is the scaling efficiency
//   1 process, 2 threads, batch 2B           the same global batch with threads,
//                                            what a user on one machine would run instead
// On the 2-core machine this mostly measures how the two ranks share the cores;
// gradient traffic is over shared memory. Without mpirun the 2-rank row says why.
//
// Run alone: node dist/bench/distributed.js; as a group of the bench runner: `distributedGroups` (slow).
import { spawn, spawnSync } from 'node:child_process';

import { modelPreset } from '../lib/configs';
import { native } from '../lib/native';
import { joinRanks } from '../lib/train/distributed';
import { recipes } from '../lib/train/recipes';
import type { BenchContext, BenchGroup, BenchResult } from './harness';
import { syntheticBatch, timeTrainerSteps } from './trainer_steps';

const GROUP = 'distributed';
const SIZE = 128;
const STEPS = 10;

interface StepFigures {
  imagesPerSecond: number;
  cpuSecondsPerImage: number;
  ranks: number;
}

/** In a child process (or each rank): timed steps of B images per rank; rank 0 prints the figures. */
async function measure(perRank: number, steps: number): Promise<void> {
  const ranks = await joinRanks('cpu');
  const model = modelPreset('shapes-tiny');
  // Every rank its own images (different seeds), as sharded data would be.
  const batches = [0, 1, 2, 3].map((k) => syntheticBatch(perRank, SIZE, model.numClasses, 3, 11 + k + 100 * ranks.rank));
  const o = recipes['shapes-tiny']!().optimizer as { betas: [number, number]; eps: number; gradClip: number | null };
  const t = await timeTrainerSteps(
    { model, seed: 0, backend: 'cpu', adam: { beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, gradClip: o.gradClip }, group: ranks.group ?? undefined },
    (iter) => batches[iter % 4]!,
    { warmup: 2, timed: steps, mode: 'queued' },
  );
  const cpu = new Float64Array([t.cpuSeconds]);
  const cpuAll = ranks.group ? (await ranks.group.allReduceSumHost(cpu))[0]! : cpu[0]!;
  if (!ranks.isRoot) return;
  const figures: StepFigures = { imagesPerSecond: (steps * perRank * ranks.size) / t.wallSeconds[0]!, cpuSecondsPerImage: cpuAll / (perRank * ranks.size), ranks: ranks.size };
  console.log(`RESULT ${JSON.stringify(figures)}`);
}

function child(cmd: string, args: string[], threads: number): Promise<StepFigures> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, CORNERNET_NUM_THREADS: String(threads) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(7)) as StepFigures);
      else reject(new Error(`${[cmd, ...args].join(' ')} failed (${code}): ${out.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

export async function runDistributedBench(ctx: BenchContext): Promise<BenchResult[]> {
  const batch = (recipes['shapes-tiny']!().train as { batchSize: number }).batchSize;
  const perRank = batch / 2;
  const steps = ctx.tiny ? 2 : STEPS;
  const self = [__filename, 'measure', String(perRank), String(steps)];
  const base = await child(process.execPath, self, 1);
  const threads = await child(process.execPath, [__filename, 'measure', String(batch), String(steps)], 2);
  const mpirun = spawnSync('sh', ['-c', 'command -v mpirun'], { encoding: 'utf8' }).stdout.trim();
  let ranks: StepFigures | null = null;
  if (!mpirun) ctx.note('distributed: no mpirun on this machine (install openmpi-bin): no 2-rank figure');
  else ranks = await child(mpirun, ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, ...self], 1);
  ctx.note(
    `distributed: shapes-tiny trainer steps at ${SIZE}x${SIZE}, ${steps} queued steps after 2 warm-up steps; the 2-rank row's reference is twice the 1-thread row ` +
      `(ratio = scaling efficiency), the last row's the 2-rank row (ratio > 1: threads beat ranks at the same global batch ${batch})`,
  );
  const rows: BenchResult[] = [
    {
      group: GROUP, name: `1 process, 1 engine thread, batch ${perRank}`, metric: 'images/s', value: base.imagesPerSecond,
      details: { cpuSecondsPerImage: base.cpuSecondsPerImage },
    },
  ];
  if (ranks)
    rows.push({
      group: GROUP, name: `2 CPU ranks (mpirun), 1 thread each, batch ${perRank} each (global ${batch})`, metric: 'images/s', value: ranks.imagesPerSecond,
      reference: { value: 2 * base.imagesPerSecond, label: '2 x one rank alone' }, ratio: ranks.imagesPerSecond / (2 * base.imagesPerSecond),
      details: { cpuSecondsPerImage: ranks.cpuSecondsPerImage },
    });
  rows.push({
    group: GROUP, name: `1 process, 2 engine threads, batch ${batch}`, metric: 'images/s', value: threads.imagesPerSecond,
    ...(ranks ? { reference: { value: ranks.imagesPerSecond, label: '2 CPU ranks, same global batch' }, ratio: threads.imagesPerSecond / ranks.imagesPerSecond } : {}),
    details: { cpuSecondsPerImage: threads.cpuSecondsPerImage },
  });
  return rows;
}

export const distributedGroups: BenchGroup[] = [
  {
    name: GROUP,
    description: 'scaling of CPU ranks under mpirun: shapes-tiny trainer steps, 2 ranks x 1 thread against 1 process with 1 and with 2 threads',
    slow: true,
    run: runDistributedBench,
  },
];

if (require.main === module) {
  if (process.argv[2] === 'measure') {
    measure(Number(process.argv[3]), Number(process.argv[4])).catch((e: Error) => {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = 1;
    });
  } else {
    const notes: string[] = [];
    runDistributedBench({ threads: native().info().threads, note: (l) => notes.push(l) }).then(
      (rows) => {
        for (const r of rows) {
          const ref = r.reference ? `   reference ${r.reference.value.toFixed(2)} ${r.metric} (${r.reference.label}), ratio ${r.ratio!.toFixed(2)}` : '';
          console.log(`${r.name}: ${r.value.toFixed(2)} ${r.metric}${ref}`);
        }
        for (const n of notes) console.log(`note: ${n}`);
      },
      (e: unknown) => {
        console.error(e instanceof Error ? e.message : String(e));
        process.exitCode = 1;
      },
    );
  }
}
