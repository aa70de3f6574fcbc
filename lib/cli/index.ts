// The `cornernet` command: one file per subcommand under lib/cli/, wired here.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { version } from '../info';
import { evalCommand } from './eval_command';
import { infoCommand } from './info_command';
import { synthCommand } from './synth_command';
import { testCommand } from './test_command';
import { trainCommand } from './train_command';
import { detectCommand } from './detect_command';
import { modelCommand } from './model_command';
import { importCommand } from './import_command';

export async function main(argv: string[] = hideBin(process.argv)): Promise<void> {
  let reported = false;
  try {
    await runYargs(argv, () => {
      reported = true;
    });
  } catch (err) {
    // fail() has reported it already (it throws to stop yargs); anything else is reported here.
    if (!reported) process.stderr.write(`cornernet: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

async function runYargs(argv: string[], onFail: () => void): Promise<unknown> {
  return yargs(argv)
    .scriptName('cornernet')
    .version(version)
    .command(infoCommand)
    .command(evalCommand)
    .command(synthCommand)
    .command(trainCommand)
    .command(testCommand)
    .command(detectCommand)
    .command(modelCommand)
    .command(importCommand)
    .demandCommand(1, 'Name a command (see --help).')
    .strict()
    .help()
    .fail((msg, err, y) => {
      onFail();
      if (err) {
        process.stderr.write(`cornernet: ${err.message}\n`);
      } else {
        process.stderr.write(`${y.help()}\n\ncornernet: ${msg}\n`);
      }
      process.exitCode = 1;
      // Without a throw yargs goes on to run the command even though its arguments failed validation.
      throw err ?? new Error(msg);
    })
    .parseAsync();
}
