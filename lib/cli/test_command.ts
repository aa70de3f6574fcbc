import * as fs from 'fs';

import type { CommandModule } from 'yargs';

import { loadCoco } from '../data/coco_loader';
import { resolveDataset } from '../data/coco_layout';
import { evaluateCoco, STAT_NAMES } from '../eval/coco_eval';
import { parseDetections, readGroundTruth } from '../eval/coco_json';
import { readGroundTruthSubset } from '../eval/gt_subset';
import { openModel } from '../eval/open_model';
import { predictDataset } from '../eval/predict';
import { formatPerCategory, formatSummary } from '../eval/summary';
import { createProgress } from '../progress';
import { checkNumericFlags, positiveInteger } from './numeric_flags';

interface TestArgs {
  config: string | undefined;
  weights: string;
  data: string;
  flip: boolean;
  out: string | undefined;
  device: string | undefined;
  'max-images': number | undefined;
  json: boolean;
}

export const testCommand: CommandModule<object, TestArgs> = {
  command: 'test',
  describe: 'Run the test pipeline over the val split, write COCO results and print the COCO summary',
  builder: (y) =>
    y
      .option('config', { type: 'string', describe: 'Recipe, model preset or JSON config (default: the one stored in a training checkpoint)' })
      .option('weights', { type: 'string', demandOption: true, describe: 'safetensors (a training checkpoint, or weights with the reference key names) or a PyTorch checkpoint (.pth)' })
      .option('data', { type: 'string', demandOption: true, describe: 'COCO-layout dataset folder (its val* split is evaluated)' })
      .option('flip', { type: 'boolean', default: false, describe: 'Flip test: decode the mirrored image too (the reference reports AP with it)' })
      .option('out', { type: 'string', describe: 'Write the detections here (COCO results JSON)' })
      .option('device', { type: 'string', describe: 'cpu, cuda, cuda:N, cuda-emu (CUDA kernels emulated on the host, slow; for tests) or auto' })
      .option('max-images', { type: 'number', describe: 'Only the first N val images' })
      .option('json', { type: 'boolean', default: false, describe: 'Print {statNames, stats, perCategory} as JSON' })
      .check(checkNumericFlags({ 'max-images': positiveInteger })),
  handler: async (a) => {
    const paths = resolveDataset({ data: a.data });
    if (!paths.val) throw new Error(`--data ${a.data}: no val split (annotations/instances_val*.json)`);
    const ds = await loadCoco(paths.val.annotationFile, { imageDir: paths.val.imageDir });
    const log = (l: string) => process.stderr.write(`${l}\n`);
    const { model, backend, transform } = await openModel({ config: a.config, weights: a.weights, device: a.device, numClasses: ds.categories.length, log });
    if (model.config.numClasses !== ds.categories.length)
      throw new Error(`the model has ${model.config.numClasses} classes, ${paths.val.annotationFile} has ${ds.categories.length} categories`);
    const n = a['max-images'] !== undefined ? Math.min(a['max-images'], ds.images.length) : ds.images.length;
    const indices = ds.images.map((_, i) => i).slice(0, n);
    const progress = createProgress({ label: 'test', total: indices.length, unit: 'img' });
    const { results } = await predictDataset(model, ds, { flip: a.flip, indices, transform, onImage: (d) => progress.update(d) });
    progress.stop();
    if (a.out) {
      const tmp = `${a.out}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, JSON.stringify(results));
      fs.renameSync(tmp, a.out);
      log(`wrote ${results.length} detections to ${a.out}`);
    }
    let gt = readGroundTruth(paths.val.annotationFile);
    if (n < ds.images.length) gt = readGroundTruthSubset(paths.val.annotationFile, new Set(indices.map((i) => ds.images[i]!.id)));
    const { stats, perCategory } = evaluateCoco(gt, parseDetections(results, gt, 'detections'));
    process.stdout.write(a.json ? `${JSON.stringify({ device: backend, statNames: STAT_NAMES, stats, perCategory })}\n` : `${formatSummary(stats)}\n\n${formatPerCategory(perCategory)}\n`);
  },
};
