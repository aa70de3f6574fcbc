import type { CommandModule } from 'yargs';

import { recipeNames } from '../train/recipes';
import { checkNumericFlags, nonNegativeInteger, positiveInteger, positiveNumber } from './numeric_flags';
import { detectLaunch } from '../train/distributed';
import { train } from '../train/train_api';

interface TrainArgs {
  config: string;
  data: string | undefined;
  'work-dir': string | undefined;
  device: string | undefined;
  replicas: number | undefined;
  resume: unknown;
  'load-from': string | undefined;
  'max-iters': number | undefined;
  'max-minutes': number | undefined;
  seed: number | undefined;
  set: string[] | undefined;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Train CornerNet (no arguments: the embedded default, shapes-tiny on a generated synthetic dataset)',
  builder: (y) =>
    y
      .option('config', { type: 'string', default: 'shapes-tiny', describe: `Recipe (${recipeNames.join(', ')}) or JSON config file` })
      .option('data', { type: 'string', describe: 'COCO-layout dataset folder (annotations/instances_<split>.json + <split>/)' })
      .option('work-dir', { type: 'string', describe: 'Checkpoints, metrics, report (default work_dirs/<config name>)' })
      .option('device', { type: 'string', describe: 'cpu, cuda, cuda:N, cuda-emu or auto (default: the config\'s, auto)' })
      .option('replicas', { type: 'number', describe: 'Data-parallel model replicas, each taking batchSize images (CPU: side by side, each with its share of the threads; CUDA: one per GPU, sharing GPUs when fewer)' })
      .option('resume', { describe: 'Continue from the newest checkpoint of the work dir, or from the given file' })
      .option('load-from', {
        type: 'string',
        describe: 'Fine-tune: start from these weights (safetensors or .pth); tensors load by name and shape, heat heads of another class count are re-initialised (config key train.loadFrom). Unlike --resume, a new run',
      })
      .option('max-iters', { type: 'number', describe: 'Stop after this many iterations' })
      .option('max-minutes', {
        type: 'number',
        describe: 'Time budget of the whole command: recipes whose lr steps are fractions of the run (the default) fit the run and its evaluation into it; epoch recipes stop training after it',
      })
      .option('seed', { type: 'number', describe: 'Seed of initialisation and data order' })
      .option('set', { type: 'string', array: true, describe: 'Config overrides key.path=value (repeatable)' })
      .check(checkNumericFlags({ replicas: positiveInteger, 'max-iters': positiveInteger, 'max-minutes': positiveNumber, seed: nonNegativeInteger })),
  handler: async (a) => {
    // Logging never ends a run: once the reader of stderr has gone (`| head`, a
    // closed terminal), writes fail with EPIPE or EIO, reported as 'error' events
    // that would otherwise end the process without a checkpoint. The run goes on
    // unheard, and a signal still saves.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    // Ctrl-C, SIGTERM, a closed terminal (SIGHUP): finish the step in flight, save a checkpoint, exit 130.
    const ctl = new AbortController();
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    const onSignal = (sig: NodeJS.Signals) => {
      if (ctl.signal.aborted) {
        // A second Ctrl-C or SIGTERM forces; SIGHUP often comes twice as a terminal closes (kernel, then shell).
        if (sig !== 'SIGHUP') process.exit(130);
        return;
      }
      process.stderr.write(`\n${sig}: stopping after the current step and saving a checkpoint (again to force)\n`);
      ctl.abort();
    };
    for (const sig of signals) process.on(sig, onSignal);
    try {
      const r = await train(a.config, {
        data: a.data,
        workDir: a['work-dir'],
        device: a.device,
        replicas: a.replicas,
        resume: a.resume === '' || a.resume === true ? true : typeof a.resume === 'string' ? a.resume : undefined,
        loadFrom: a['load-from'],
        maxIters: a['max-iters'],
        maxMinutes: a['max-minutes'],
        seed: a.seed,
        set: a.set,
        signal: ctl.signal,
        progressStream: process.stderr,
        // train.maxMinutes is the command's whole wall time, Node's start-up included.
        startedAt: Date.now() - process.uptime() * 1000,
      });
      if (r.stopped === 'interrupted') process.exitCode = 130;
    } catch (e) {
      // Under mpirun every rank prints its own error: say whose it is.
      const l = detectLaunch();
      const err = e as Error;
      if (l.kind !== 'single' && l.rank > 0 && !err.message.startsWith(`rank ${l.rank}`)) err.message = `rank ${l.rank}: ${err.message}`;
      throw err;
    } finally {
      for (const sig of signals) process.off(sig, onSignal);
    }
  },
};
