import type { CommandModule } from 'yargs';

import { formatInfo, info } from '../info';

export const infoCommand: CommandModule<object, { json: boolean }> = {
  command: 'info',
  describe: 'Show the compute backend, CPU features, threads, CUDA build status and devices',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'Print as JSON' }),
  handler: (args) => {
    const i = info();
    process.stdout.write(args.json ? `${JSON.stringify(i, null, 2)}\n` : `${formatInfo(i)}\n`);
  },
};
