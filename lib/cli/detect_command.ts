import * as fs from 'fs';
import * as path from 'path';

import type { CommandModule } from 'yargs';

import { COCO_CLASSES } from '../data/coco_classes';
import { loadTestImageFile } from '../data/train_loader';
import { openModel } from '../eval/open_model';
import { predictImage } from '../eval/predict';
import { drawDetections } from '../render/draw_detections';
import { checkNumericFlags } from './numeric_flags';

interface DetectArgs {
  config: string | undefined;
  weights: string;
  images: string[];
  out: string | undefined;
  'score-thr': number;
  flip: boolean;
  device: string | undefined;
}

export const detectCommand: CommandModule<object, DetectArgs> = {
  command: 'detect <images..>',
  describe: 'Detect objects in images: print the detections as JSON, and with --out write each image with its boxes drawn (PNG)',
  builder: (y) =>
    y
      .positional('images', { type: 'string', array: true, demandOption: true, describe: 'Image files (JPEG, PNG, WebP, ...)' })
      .option('config', { type: 'string', describe: 'Recipe, model preset or JSON config (default: the one stored in a training checkpoint)' })
      .option('weights', { type: 'string', demandOption: true, describe: 'safetensors: a training checkpoint or weights with the reference key names' })
      .option('out', { type: 'string', describe: 'Folder for the annotated PNGs' })
      .option('score-thr', { type: 'number', default: 0.3, describe: 'Keep detections scoring at least this' })
      .option('flip', { type: 'boolean', default: false, describe: 'Flip test' })
      .option('device', { type: 'string', describe: 'cpu, cuda, cuda:N, cuda-emu (CUDA kernels emulated on the host, slow; for tests) or auto' })
      // Scores are probabilities: a threshold outside [0, 1] keeps everything or nothing.
      .check(checkNumericFlags({ 'score-thr': { min: 0, max: 1 } })),
  handler: async (a) => {
    const log = (l: string) => process.stderr.write(`${l}\n`);
    const { model, classNames, backend } = await openModel({ config: a.config, weights: a.weights, device: a.device, log });
    const n = model.config.numClasses;
    const names = classNames ?? (n === COCO_CLASSES.length ? [...COCO_CLASSES] : Array.from({ length: n }, (_, k) => `class_${k}`));
    if (a.out) fs.mkdirSync(a.out, { recursive: true });
    const out = [];
    for (const file of a.images) {
      if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
      const input = await loadTestImageFile(file);
      const mirror = a.flip ? await loadTestImageFile(file, { flip: true }) : null;
      const det = await predictImage(model, input, mirror);
      const dets = [];
      for (let k = 0; k < det.scores.length; k++) {
        const score = det.scores[k]!;
        if (score < a['score-thr']) continue;
        const label = det.labels[k]!;
        const box = Array.from(det.boxes.subarray(4 * k, 4 * k + 4)) as [number, number, number, number];
        dets.push({ box, label, name: names[label] ?? `class_${label}`, score });
      }
      let drawn: string | undefined;
      if (a.out) {
        drawn = path.join(a.out, `${path.basename(file, path.extname(file))}.png`);
        fs.writeFileSync(drawn, await drawDetections(file, dets.map((d) => ({ box: d.box, label: d.name, score: d.score }))));
      }
      out.push({ file, ...(drawn ? { drawn } : {}), device: backend, detections: dets });
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  },
};
