// The `cornernet` command: one file per subcommand under lib/cli/, wired here.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { version } from '../info';
import { infoCommand } from './info_command';
import { modelCommand } from './model_command';

export async function main(argv: string[] = hideBin(process.argv)): Promise<void> {
  await yargs(argv)
    .scriptName('cornernet')
    .version(version)
    .command(infoCommand)
    .command(modelCommand)
    .demandCommand(1, 'Name a command (see --help).')
    .strict()
    .help()
    .fail((msg, err, y) => {
      if (err) {
        process.stderr.write(`cornernet: ${err.message}\n`);
      } else {
        process.stderr.write(`${y.help()}\n\ncornernet: ${msg}\n`);
      }
      process.exitCode = 1;
    })
    .parseAsync();
}
