// Fine-tuning (`train.loadFrom`, `cornernet train --load-from W`): a fresh run
// whose weights start from another run's (safetensors checkpoint or weights, or
// a PyTorch .pth, through io/weights.ts). Every entry whose name and shape
// match is loaded; the heat heads' final convolutions of another class count
// keep the seeded initialisation, which is the reference's (PyTorch default
// weights, bias -log((1 - 0.1) / 0.1), native/model/corner_head.cc); other
// differences keep it too and are listed. Unlike --resume, the optimizer state,
// schedule position and data order start anew.
import * as fs from 'fs';
import * as path from 'path';

import { loadWeights } from '../io/weights';
import type { NativeTrainer, StateDict } from './native_trainer';

export interface LoadFromReport {
  file: string;
  /** Model entries taken from the file. */
  loaded: string[];
  /** Heat-head convolutions of another class count, left at the reference's initialisation: "<name> [file] -> [model]". */
  reinitialised: string[];
  /** Other entries of another shape or type, left at the initialisation: "<name> [file] -> [model]". */
  mismatched: string[];
  /** Model entries the file lacks, left at the initialisation. */
  missing: string[];
  /** File entries the model has no place for. */
  unexpected: string[];
}

const HEAT_CLASSIFIER = /^bbox_head\.(tl|br)_heat\.\d+\.1\.conv\.(weight|bias)$/;

const shapeOf = (t: { shape: number[] }) => `[${t.shape.join(', ')}]`;
const listed = (v: string[]) => `${v.slice(0, 2).join('; ')}${v.length > 2 ? `; ... ${v.length - 2} more` : ''}`;

/** Loads `file` into the freshly initialised `trainer`; writes the report to <workDir>/load_from.json and logs it. */
export async function loadFrom(trainer: NativeTrainer, file: string, workDir: string, log: (line: string) => void): Promise<LoadFromReport> {
  let w: Awaited<ReturnType<typeof loadWeights>>;
  try {
    w = await loadWeights(file);
  } catch (e) {
    throw new Error(`train.loadFrom (--load-from): ${(e as Error).message}`);
  }
  if (w.input)
    log(`load-from ${file}: these weights expect another input normalisation (${w.input.source}); training normalises as the reference does, so the first steps adapt the stem`);
  const init: StateDict = (await trainer.snapshot()).stateDict;
  const merged: StateDict = {};
  const r: LoadFromReport = { file, loaded: [], reinitialised: [], mismatched: [], missing: [], unexpected: [] };
  for (const [name, fresh] of Object.entries(init)) {
    const t = w.stateDict[name];
    merged[name] = fresh;
    if (!t) r.missing.push(name);
    else if (shapeOf(t) === shapeOf(fresh) && (t.data instanceof BigInt64Array) === (fresh.data instanceof BigInt64Array)) {
      merged[name] = t;
      r.loaded.push(name);
    } else (HEAT_CLASSIFIER.test(name) ? r.reinitialised : r.mismatched).push(`${name} ${shapeOf(t)} -> ${shapeOf(fresh)}`);
  }
  r.unexpected = Object.keys(w.stateDict).filter((k) => !(k in init));
  if (!r.loaded.length)
    throw new Error(
      `train.loadFrom ${file}: no entry matches the model by name and shape, so these are not weights of this architecture ` +
        `(${r.mismatched.length ? `of another shape: ${listed(r.mismatched)}; ` : ''}not in the model: ${listed(r.unexpected)})`,
    );
  await trainer.load({ stateDict: merged }, { strict: true });
  const out = path.join(workDir, 'load_from.json');
  const tmp = `${out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(r, null, 2)}\n`);
  fs.renameSync(tmp, out);
  const total = Object.keys(init).length;
  log(`load-from ${file}: loaded ${r.loaded.length} of ${total} model entries`);
  if (r.reinitialised.length) log(`load-from: re-initialised ${r.reinitialised.length} heat-head entries (another class count): ${listed(r.reinitialised)}`);
  if (r.mismatched.length) log(`load-from: ${r.mismatched.length} entries of another shape kept their initialisation: ${listed(r.mismatched)}`);
  if (r.missing.length) log(`load-from: ${r.missing.length} model entries not in the file kept their initialisation: ${listed(r.missing)}`);
  if (r.unexpected.length) log(`load-from: ${r.unexpected.length} file entries not in the model were ignored: ${listed(r.unexpected)}`);
  log(`load-from: report ${out}`);
  return r;
}
