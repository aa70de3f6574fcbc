import * as fs from 'fs';
import * as path from 'path';

import type { CommandModule } from 'yargs';

import { COCO_CLASSES } from '../data/coco_classes';
import { notAnImageFile } from '../data/image_decode';
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

/**
 * The annotated PNG of each input in `outDir`: `<name>.png` (the input's name
 * without its extension), or `<name>-1.png`, `<name>-2.png`, ... when that path
 * is already the output of an earlier input (same name from another folder) or
 * is one of the inputs themselves (by device and inode, so also through links),
 * which must never be overwritten.
 */
export function outputPaths(inputs: string[], outDir: string): string[] {
  const identity = (f: string) => {
    try {
      const st = fs.statSync(f);
      return `${st.dev}:${st.ino}`;
    } catch {
      return null; // not there yet: cannot be an input
    }
  };
  const inputIds = new Set(inputs.map(identity));
  const taken = new Set<string>();
  return inputs.map((file) => {
    const name = path.basename(file, path.extname(file));
    for (let k = 0; ; k++) {
      const out = path.join(outDir, `${name}${k ? `-${k}` : ''}.png`);
      const id = identity(out);
      if (taken.has(path.resolve(out)) || (id !== null && inputIds.has(id))) continue;
      taken.add(path.resolve(out));
      return out;
    }
  });
}

export const detectCommand: CommandModule<object, DetectArgs> = {
  command: 'detect <images..>',
  describe: 'Detect objects in images: print the detections as JSON, and with --out write each image with its boxes drawn (PNG)',
  builder: (y) =>
    y
      .positional('images', { type: 'string', array: true, demandOption: true, describe: 'Image files (JPEG, PNG, WebP, ...)' })
      .option('config', { type: 'string', describe: 'Recipe, model preset or JSON config (default: the one stored in a training checkpoint)' })
      .option('weights', { type: 'string', demandOption: true, describe: 'safetensors (a training checkpoint, or weights with the reference key names) or a PyTorch checkpoint (.pth)' })
      .option('out', {
        type: 'string',
        describe:
          'Folder for the annotated PNGs, one per image, named <image name>.png; when another image of the command already takes ' +
          'that name (same name, other folder) or it would overwrite an input image, <image name>-1.png, -2, ... ("drawn" in the JSON names each)',
      })
      .option('score-thr', { type: 'number', default: 0.3, describe: 'Keep detections scoring at least this' })
      .option('flip', { type: 'boolean', default: false, describe: 'Flip test' })
      .option('device', { type: 'string', describe: 'cpu, cuda, cuda:N, cuda-emu (CUDA kernels emulated on the host, slow; for tests) or auto' })
      // Scores are probabilities: a threshold outside [0, 1] keeps everything or nothing.
      .check(checkNumericFlags({ 'score-thr': { min: 0, max: 1 } })),
  handler: async (a) => {
    const log = (l: string) => process.stderr.write(`${l}\n`);
    // Every input is checked before the model loads (a FIFO would block the read forever).
    for (const file of a.images) {
      const problem = await notAnImageFile(file);
      if (problem) throw new Error(problem);
    }
    const { model, classNames, backend, transform } = await openModel({ config: a.config, weights: a.weights, device: a.device, log });
    const n = model.config.numClasses;
    const names = classNames ?? (n === COCO_CLASSES.length ? [...COCO_CLASSES] : Array.from({ length: n }, (_, k) => `class_${k}`));
    if (a.out) fs.mkdirSync(a.out, { recursive: true });
    const drawnPaths = a.out ? outputPaths(a.images, a.out) : [];
    const out = [];
    for (const [i, file] of a.images.entries()) {
      const input = await loadTestImageFile(file, { transform });
      const mirror = a.flip ? await loadTestImageFile(file, { flip: true, transform }) : null;
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
        drawn = drawnPaths[i]!;
        fs.writeFileSync(drawn, await drawDetections(file, dets.map((d) => ({ box: d.box, label: d.name, score: d.score }))));
      }
      out.push({ file, ...(drawn ? { drawn } : {}), device: backend, detections: dets });
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  },
};
