import type { CommandModule } from 'yargs';

import { formatImportReport, importWeights } from '../io/import_weights';
import { createProgress, type Progress } from '../progress';
import type { KeyScheme } from '../io/torch_import';

interface ImportArgs {
  checkpoint: string;
  out: string;
  from: KeyScheme | 'auto';
  config: string | undefined;
  json: boolean;
}

export const importCommand: CommandModule<object, ImportArgs> = {
  command: 'import <checkpoint>',
  describe: 'Convert a PyTorch checkpoint (.pth: MMDetection or the original CornerNet) to safetensors weights under the reference key names',
  builder: (y) =>
    y
      .positional('checkpoint', { type: 'string', demandOption: true, describe: 'A torch.save file (zip or legacy format); read without Python, never executing code' })
      .option('out', { type: 'string', demandOption: true, describe: 'The safetensors weights to write (with the architecture, class names and input normalisation in its metadata)' })
      .option('from', {
        choices: ['mmdet', 'original', 'auto'] as const,
        default: 'auto' as const,
        describe: "Key names of the checkpoint: MMDetection's, princeton-vl/CornerNet's, or decided from the keys",
      })
      .option('config', { type: 'string', describe: 'Architecture to check against: a recipe, model preset or JSON config (default hourglass104; the class count comes from the heat heads)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the report as JSON' }),
  handler: async (a) => {
    let progress: Progress | null = null;
    const onTensor = (done: number, total: number) => {
      progress ??= createProgress({ label: 'import', total, unit: 'tensor' });
      progress.update(done, {}, done);
    };
    let r;
    try {
      r = await importWeights({ checkpoint: a.checkpoint, out: a.out, from: a.from, config: a.config, onTensor });
    } finally {
      (progress as Progress | null)?.stop();
    }
    if (a.json) process.stdout.write(`${JSON.stringify({ ...r.report, out: r.out, config: r.config, classesFrom: r.classesFrom, matched: r.matched, classNames: r.classNames, input: r.input })}\n`);
    else process.stdout.write(`${formatImportReport(r)}\n`);
  },
};
