import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';

import { readNpy, writeNpy } from '../io/npy';
import { loadWeights, loadWeightsInto, weightsArchitecture } from '../io/weights';
import { formatSummary, headOutputNames, Model } from '../model';
import { checkNumericFlags, nonNegativeInteger } from './numeric_flags';

interface ModelArgs {
  config?: string;
  keys: boolean;
  json: boolean;
  weights?: string;
  input?: string;
  dump?: string;
  train: boolean;
  backend: string;
  seed: number;
}

// Output files are named like the reference fixtures: tl_heat_l0.npy, ...
const fileStem: Record<(typeof headOutputNames)[number], string> = {
  tlHeat: 'tl_heat',
  brHeat: 'br_heat',
  tlEmb: 'tl_emb',
  brEmb: 'br_emb',
  tlOff: 'tl_off',
  brOff: 'br_off',
};

export const modelCommand: CommandModule<object, ModelArgs> = {
  command: 'model',
  describe: 'Show a model (summary, parameter count, state_dict keys); load weights and run it on an input',
  builder: (y) =>
    y
      .option('config', {
        type: 'string',
        describe: "A preset (hourglass104, hourglass52, shapes-tiny) or a JSON model config. Default: the architecture the --weights file records (required when it records none), else hourglass104",
      })
      .option('keys', { type: 'boolean', default: false, describe: 'List every state_dict key with its shape, in the reference order' })
      .option('json', { type: 'boolean', default: false, describe: 'Print as JSON' })
      .option('weights', { type: 'string', describe: 'A safetensors file (a training checkpoint, or weights under the reference key names) or a PyTorch checkpoint (.pth); loaded strictly' })
      .option('input', { type: 'string', describe: 'A float32 .npy input [N, 3, H, W] to run the model on' })
      .option('dump', { type: 'string', describe: 'Folder to write every head output of every stack to, as <name>_l<stack>.npy' })
      .option('train', { type: 'boolean', default: false, describe: 'Run with batch-statistics BN (train mode)' })
      .option('backend', { type: 'string', default: 'cpu', describe: "Compute backend: 'cpu', 'cuda:0', ..." })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the initial weights when no --weights is given' })
      .check((a) => {
        if (a.dump !== undefined && a.input === undefined) throw new Error('--dump needs --input');
        return checkNumericFlags({ seed: nonNegativeInteger })(a);
      }),
  handler: async (args) => {
    const checkpoint = args.weights !== undefined ? await loadWeights(args.weights) : null;
    const config = checkpoint ? weightsArchitecture(checkpoint, args.config) : (args.config ?? 'hourglass104');
    // Building the model allocates no weights: listing and counting are free.
    const model = new Model(config, { backend: args.backend, seed: args.seed });
    const out = (s: string): void => {
      process.stdout.write(`${s}\n`);
    };
    if (args.keys) {
      const keys = model.keys();
      if (args.json) return out(JSON.stringify(keys, null, 2));
      const w = Math.max(...keys.map((k) => k.name.length));
      return out(keys.map((k) => `${k.name.padEnd(w)}  [${k.shape.join(', ')}]${k.dtype === 'int64' ? ' int64' : ''}`).join('\n'));
    }
    if (checkpoint) {
      const r = loadWeightsInto(model, checkpoint, args.config);
      if (!args.json) out(`loaded ${r.loaded} entries from ${args.weights}`);
    }
    if (args.input === undefined) {
      const s = model.summary();
      return out(args.json ? JSON.stringify(s, null, 2) : formatSummary(s));
    }
    const x = readNpy(args.input);
    const levels = await model.forward(x, { train: args.train });
    if (args.dump !== undefined) fs.mkdirSync(args.dump, { recursive: true });
    const rows = [];
    for (const [l, level] of levels.entries()) {
      for (const k of headOutputNames) {
        const t = level[k];
        let min = Infinity, max = -Infinity, sum = 0;
        for (const v of t.data) {
          min = Math.min(min, v);
          max = Math.max(max, v);
          sum += v;
        }
        const file = args.dump !== undefined ? path.join(args.dump, `${fileStem[k]}_l${l}.npy`) : undefined;
        if (file) writeNpy(file, t);
        rows.push({ stack: l, output: fileStem[k], shape: t.shape, min, max, mean: sum / t.data.length, ...(file ? { file } : {}) });
      }
    }
    if (args.json) return out(JSON.stringify(rows, null, 2));
    for (const r of rows)
      out(`stack ${r.stack} ${r.output.padEnd(7)} [${r.shape.join(', ')}]  min ${r.min.toFixed(4)}  max ${r.max.toFixed(4)}  mean ${r.mean.toFixed(4)}${r.file ? `  -> ${r.file}` : ''}`);
  },
};
