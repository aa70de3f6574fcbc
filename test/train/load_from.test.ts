// Fine-tuning (train.loadFrom, lib/train/load_from.ts): a shapes-tiny model
// trained on one synthetic dataset, then trained on another with fewer classes,
// starts from a lower loss than the same run from scratch; what is loaded and
// what is re-initialised, from safetensors and from a .pth.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

import { writeSynthDataset } from '../../lib/data/synth/write_dataset';
import { loadCheckpoint } from '../../lib/train/checkpoint';
import { loadFrom, type LoadFromReport } from '../../lib/train/load_from';
import { train } from '../../lib/train/loop';
import { NativeTrainer } from '../../lib/train/native_trainer';
import { resolveConfig } from '../../lib/train/resolve_config';
import { tmpDir } from '../data/coco_fixture';
import { stateDictPy, torchZip, writeFile } from '../helpers/torch_writer';
import { Sink } from './small_run';

// 32 images of 64 px, batches of 4, every step logged, one val image.
const QUICK = ['data.inputSize=64', 'data.workers=2', 'train.batchSize=4', 'evaluation.flip=false', 'log.intervalIters=1', 'schedule.warmupIters=2', 'data.maxValImages=1'];
const HEAT_BIAS = -Math.log((1 - 0.1) / 0.1);

describe('train/load_from (fine-tuning)', function () {
  this.timeout(60_000);
  let dir: string;
  let pretrained: string;
  let threeClasses: string;
  before(async () => {
    dir = tmpDir('finetune');
    const five = path.join(dir, 'five');
    threeClasses = path.join(dir, 'three');
    await writeSynthDataset(five, { train: 32, val: 1, size: 64, seed: 1 });
    await writeSynthDataset(threeClasses, { train: 32, val: 1, size: 64, seed: 2 });
    // The second dataset keeps 3 of the 5 shapes: another class count.
    for (const split of ['train', 'val']) {
      const file = path.join(threeClasses, 'annotations', `instances_${split}.json`);
      const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { categories: { id: number }[]; annotations: { category_id: number }[] };
      j.categories = j.categories.slice(0, 3);
      j.annotations = j.annotations.filter((a) => a.category_id <= 3);
      fs.writeFileSync(file, JSON.stringify(j));
    }
    const r = await train({ config: 'shapes-tiny', data: five, workDir: path.join(dir, 'pre'), progressStream: new Sink(), tty: false, maxIters: 40, set: [...QUICK, 'train.epochs=5'] });
    pretrained = r.checkpoint!;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const trainLosses = (workDir: string) =>
    fs.readFileSync(path.join(workDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; losses: { total: number; det: number } })
      .filter((r) => r.kind === 'train').map((r) => r.losses);
  const firstLosses = (workDir: string) => trainLosses(workDir).map((l) => l.total);

  it('starts from a lower loss than training from scratch on a dataset of another class count', async () => {
    const sink = new Sink();
    const run = (workDir: string, extra: { loadFrom?: string }) =>
      train({ config: 'shapes-tiny', data: threeClasses, workDir, progressStream: sink, tty: false, maxIters: 2, seed: 7, set: QUICK, ...extra });
    const tuned = await run(path.join(dir, 'tuned'), { loadFrom: pretrained });
    await run(path.join(dir, 'scratch'), {});
    const [t0] = firstLosses(path.join(dir, 'tuned'));
    // The heads loaded whole (embeddings, offsets) start ahead; the heat classifiers of another
    // class count start afresh, so their (det) loss on one batch may go either way.
    const [tl, sl] = [trainLosses(path.join(dir, 'tuned'))[0]!, trainLosses(path.join(dir, 'scratch'))[0]!];
    assert.ok(tl.total - tl.det < sl.total - sl.det, `first pull + push + offset loss fine-tuned ${tl.total - tl.det}, from scratch ${sl.total - sl.det}`);
    assert.equal(tuned.config.model.numClasses, 3);
    assert.equal(tuned.config.train.loadFrom, pretrained, 'the config records where the weights came from');
    const rep = JSON.parse(fs.readFileSync(path.join(dir, 'tuned', 'load_from.json'), 'utf8')) as LoadFromReport;
    assert.equal(rep.loaded.length, 284);
    assert.deepEqual(rep.reinitialised, [
      'bbox_head.tl_heat.0.1.conv.weight [5, 32, 1, 1] -> [3, 32, 1, 1]',
      'bbox_head.tl_heat.0.1.conv.bias [5] -> [3]',
      'bbox_head.br_heat.0.1.conv.weight [5, 32, 1, 1] -> [3, 32, 1, 1]',
      'bbox_head.br_heat.0.1.conv.bias [5] -> [3]',
    ]);
    assert.deepEqual([rep.mismatched, rep.missing, rep.unexpected], [[], [], []]);
    assert.match(sink.text, /load-from .*iter_00000040\.safetensors: loaded 284 of 288 model entries/);
    assert.match(sink.text, /load-from: re-initialised 4 heat-head entries \(another class count\)/);

    // The same weights as a .pth, through the config key: the same first step.
    const ck = await loadCheckpoint(pretrained);
    const sd = stateDictPy(Object.entries(ck.state.stateDict), 'module.');
    const pth = writeFile(path.join(dir, 'pretrained.pth'), torchZip(sd.value, sd.storages));
    await train({ config: 'shapes-tiny', data: threeClasses, workDir: path.join(dir, 'tuned-pth'), progressStream: sink, tty: false, maxIters: 1, seed: 7, set: [...QUICK, `train.loadFrom=${pth}`] });
    assert.equal(firstLosses(path.join(dir, 'tuned-pth'))[0], t0);
  });

  it('loads what matches, leaves the heat classifiers of another class count at the reference initialisation, refuses weights of another model', async () => {
    const cfg = { ...resolveConfig('shapes-tiny').model, numClasses: 3 };
    const trainer = new NativeTrainer({ model: cfg, seed: 11 }, () => {});
    try {
      const lines: string[] = [];
      const rep = await loadFrom(trainer, pretrained, dir, (l) => lines.push(l));
      const after = (await trainer.snapshot()).stateDict;
      const file = (await loadCheckpoint(pretrained)).state.stateDict;
      for (const k of rep.loaded) assert.deepEqual(after[k]!.data, file[k]!.data, k);
      for (const side of ['tl', 'br']) {
        const bias = after[`bbox_head.${side}_heat.0.1.conv.bias`]!.data as Float32Array;
        assert.deepEqual(Array.from(bias), [HEAT_BIAS, HEAT_BIAS, HEAT_BIAS].map(Math.fround));
      }
      assert.ok(fs.existsSync(path.join(dir, 'load_from.json')));
      assert.ok(lines.some((l) => l.startsWith('load-from: report ')));

      const other = stateDictPy([['fc.weight', { data: new Float32Array(4), shape: [2, 2] }]]);
      const wrong = writeFile(path.join(dir, 'resnet.pth'), torchZip(other.value, other.storages));
      await assert.rejects(loadFrom(trainer, wrong, dir, () => {}), /train\.loadFrom .*resnet\.pth: no entry matches the model by name and shape.*not in the model: fc\.weight/);
      await assert.rejects(loadFrom(trainer, path.join(dir, 'absent.safetensors'), dir, () => {}), /^Error: train\.loadFrom \(--load-from\): .*absent\.safetensors/);
    } finally {
      await trainer.close();
    }
  });
});
