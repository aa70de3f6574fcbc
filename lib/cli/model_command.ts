import type { CommandModule } from 'yargs';

import { formatSummary, Model } from '../model';

interface ModelArgs {
  config: string;
  keys: boolean;
  json: boolean;
}

export const modelCommand: CommandModule<object, ModelArgs> = {
  command: 'model',
  describe: 'Show a model architecture: summary and parameter count, or every state_dict key with its shape',
  builder: (y) =>
    y
      .option('config', {
        type: 'string',
        default: 'hourglass104',
        describe: 'A preset (hourglass104, hourglass52, shapes-tiny) or a JSON file with a model config',
      })
      .option('keys', { type: 'boolean', default: false, describe: 'List every state_dict key with its shape, in the reference order' })
      .option('json', { type: 'boolean', default: false, describe: 'Print as JSON' }),
  handler: (args) => {
    // Building the model allocates no weights: listing and counting are free.
    const model = new Model(args.config);
    if (args.keys) {
      const keys = model.keys();
      if (args.json) {
        process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
      } else {
        const w = Math.max(...keys.map((k) => k.name.length));
        const lines = keys.map((k) => `${k.name.padEnd(w)}  [${k.shape.join(', ')}]${k.dtype === 'int64' ? ' int64' : ''}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      return;
    }
    const s = model.summary();
    process.stdout.write(args.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatSummary(s)}\n`);
  },
};
