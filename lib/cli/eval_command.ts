import type { CommandModule } from 'yargs';

import { evaluateCoco, STAT_NAMES } from '../eval/coco_eval';
import { readDetections, readGroundTruth } from '../eval/coco_json';
import { formatPerCategory, formatSummary } from '../eval/summary';

interface EvalArgs {
  gt: string;
  dt: string;
  json: boolean;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'COCO bbox evaluation (pycocotools COCOeval semantics) of a results JSON against an instances JSON',
  builder: (y) =>
    y
      .option('gt', { type: 'string', demandOption: true, describe: 'Ground truth: COCO instances JSON' })
      .option('dt', { type: 'string', demandOption: true, describe: 'Detections: COCO results JSON (a list)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object {statNames, stats, perCategory}' }),
  handler: async (args) => {
    const gt = readGroundTruth(args.gt);
    const dt = readDetections(args.dt, gt);
    const { stats, perCategory } = evaluateCoco(gt, dt);
    process.stdout.write(
      args.json
        ? `${JSON.stringify({ statNames: STAT_NAMES, stats, perCategory })}\n`
        : `${formatSummary(stats)}\n\n${formatPerCategory(perCategory)}\n`,
    );
  },
};
