import * as fs from 'fs';
import * as path from 'path';

import type { CommandModule } from 'yargs';

import { notAnImageFile } from '../data/image_decode';
import { openDetector } from '../detector';
import { drawDetections } from '../render/draw_detections';
import { drawHeatmap } from '../render/draw_heatmap';
import { checkNumericFlags } from './numeric_flags';

interface DetectArgs {
  config: string | undefined;
  weights: string;
  images: string[];
  out: string | undefined;
  'score-thr': number;
  flip: boolean;
  device: string | undefined;
  time: boolean;
  heatmaps: string | undefined;
}

/**
 * The annotated PNG of each input in `outDir`: `<name><suffix>.png` (the input's name
 * without its extension), or `<name>-1<suffix>.png`, `<name>-2<suffix>.png`, ... when that path
 * is already the output of an earlier input (same name from another folder) or
 * is one of the inputs themselves (by device and inode, so also through links),
 * which must never be overwritten. Calls sharing `taken` never give one path twice
 * (drawings and heat maps in one folder).
 */
export function outputPaths(inputs: string[], outDir: string, suffix = '', taken = new Set<string>()): string[] {
  const identity = (f: string) => {
    try {
      const st = fs.statSync(f);
      return `${st.dev}:${st.ino}`;
    } catch {
      return null; // not there yet: cannot be an input
    }
  };
  const inputIds = new Set(inputs.map(identity));
  return inputs.map((file) => {
    const name = path.basename(file, path.extname(file));
    for (let k = 0; ; k++) {
      const out = path.join(outDir, `${name}${k ? `-${k}` : ''}${suffix}.png`);
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
      .option('time', { type: 'boolean', default: false, describe: 'Print the milliseconds per image (decoding, model) to stderr and add them to the JSON ("timeMs")' })
      .option('heatmaps', {
        type: 'string',
        describe:
          'Folder for the corner heat maps of each image (last stack, highest class probability per pixel) drawn over it: ' +
          '<image name>-tl.png (top-left corners, red) and <image name>-br.png (bottom-right, blue); one more forward per image',
      })
      // Scores are probabilities: a threshold outside [0, 1] keeps everything or nothing.
      .check(checkNumericFlags({ 'score-thr': { min: 0, max: 1 } })),
  handler: async (a) => {
    const log = (l: string) => process.stderr.write(`${l}\n`);
    // Every input is checked before the model loads (a FIFO would block the read forever).
    for (const file of a.images) {
      const problem = await notAnImageFile(file);
      if (problem) throw new Error(problem);
    }
    await using detector = await openDetector({ weights: a.weights, config: a.config, device: a.device, flip: a.flip, scoreThreshold: a['score-thr'], log }, 'flags');
    for (const dir of [a.out, a.heatmaps]) if (dir) fs.mkdirSync(dir, { recursive: true });
    const taken = new Set<string>();
    const drawnPaths = a.out ? outputPaths(a.images, a.out, '', taken) : [];
    const heatPaths = a.heatmaps ? { tl: outputPaths(a.images, a.heatmaps, '-tl', taken), br: outputPaths(a.images, a.heatmaps, '-br', taken) } : null;
    const out: { file: string; drawn?: string; device: string; timeMs?: { load: number; model: number }; detections: unknown[] }[] = [];
    let i = 0;
    for await (const found of detector.detectAll(a.images)) {
      const file = a.images[i]!;
      const dets = found.map((d) => {
        const [x, y, w, h] = d.bbox;
        return { box: [x, y, x + w, y + h] as [number, number, number, number], label: d.classIndex, category_id: d.categoryId, name: d.label, score: d.score };
      });
      let drawn: string | undefined;
      if (a.out) {
        drawn = drawnPaths[i]!;
        fs.writeFileSync(drawn, await drawDetections(file, dets.map((d) => ({ box: d.box, label: d.name, score: d.score }))));
      }
      if (heatPaths) {
        const maps = await detector.cornerHeatmaps(file);
        fs.writeFileSync(heatPaths.tl[i]!, await drawHeatmap(file, maps.tl, maps.meta, { colour: [255, 40, 40] }));
        fs.writeFileSync(heatPaths.br[i]!, await drawHeatmap(file, maps.br, maps.meta, { colour: [40, 90, 255] }));
      }
      if (a.time) log(`${file}: ${dets.length} detections; load ${found.timeMs.load.toFixed(1)} ms, model ${found.timeMs.model.toFixed(1)} ms on ${found.device}`);
      out.push({ file, ...(drawn ? { drawn } : {}), device: found.device, ...(a.time ? { timeMs: found.timeMs } : {}), detections: dets });
      i++;
    }
    if (a.time && out.length > 1) {
      const mean = (k: 'load' | 'model') => out.reduce((s, o) => s + o.timeMs![k], 0) / out.length;
      log(`mean of ${out.length} images: load ${mean('load').toFixed(1)} ms, model ${mean('model').toFixed(1)} ms on ${detector.device}`);
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  },
};
