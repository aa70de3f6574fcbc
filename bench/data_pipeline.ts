// Throughput of the data pipeline: images/s of the full training pipeline of the
// reference config (decode JPEG -> photometric -> centre crop/pad ->
// resize 511x511 -> flip -> normalise) from COCO-sized JPEG files (640x480) on
// this machine, with 1..8 images in flight; and the share of a training step
// spent waiting for data when a (simulated, event-loop-blocking) step of a given
// length consumes batches of 6. Run alone: node dist/bench/data_pipeline.js
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

import { loadCoco } from '../lib/data/coco_loader';
import type { CocoDataset } from '../lib/data/coco_types';
import { decodeImage } from '../lib/data/image_decode';
import { Rng } from '../lib/data/rng';
import { renderScene } from '../lib/data/synth/scene';
import { writeSynthDataset } from '../lib/data/synth/write_dataset';
import { ThreadedTrainLoader } from '../lib/data/threaded_loader';
import { TrainLoader } from '../lib/data/train_loader';
import { REFERENCE_TRAIN, type TrainTransformConfig } from '../lib/data/transforms';

export interface BenchRow {
  name: string;
  metric: string;
  value: number;
  reference?: number | string;
}

export interface PipelineBenchOptions {
  /** Images per measurement (default 192). */
  images?: number;
  workers?: number[];
  /** Simulated training step lengths (ms) for the wait-share rows. */
  stepMs?: number[];
}

const W = 640, H = 480, COUNT = 64;

/** 64 JPEGs of 640x480 with boxes, in COCO layout (deterministic; kept in the temp folder). */
async function cocoSizedDataset(): Promise<string> {
  const root = path.join(os.tmpdir(), 'cornernet-bench-coco640-v1');
  if (fs.existsSync(path.join(root, 'annotations', 'instances_train.json'))) return root;
  const tmp = `${root}.tmp-${process.pid}`;
  fs.mkdirSync(path.join(tmp, 'train'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'annotations'));
  const images: object[] = [], annotations: object[] = [];
  for (let i = 0; i < COUNT; i++) {
    const s = renderScene(new Rng(640, i), { size: W, maxObjects: 8, minScale: 0.05, maxScale: 0.35 });
    const rgb = Buffer.from(s.rgb.buffer, 0, W * H * 3); // the top 480 rows
    const name = `${String(i + 1).padStart(12, '0')}.jpg`;
    await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toFile(path.join(tmp, 'train', name));
    images.push({ id: i + 1, file_name: name, width: W, height: H });
    for (const o of s.objects) {
      const [x, y, w, h] = o.bbox;
      if (y + h <= H) annotations.push({ id: annotations.length + 1, image_id: i + 1, category_id: o.categoryId, bbox: [x, y, w, h], area: o.area, iscrowd: 0 });
    }
  }
  const cats = [1, 2, 3, 4, 5].map((id) => ({ id, name: `shape${id}` }));
  fs.writeFileSync(path.join(tmp, 'annotations', 'instances_train.json'), JSON.stringify({ images, annotations, categories: cats }));
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(tmp, root);
  return root;
}

async function imagesPerSecond(ds: CocoDataset, n: number, workers: number, cfg: TrainTransformConfig, batchSize = 6): Promise<number> {
  const indices = Array.from({ length: n }, (_, i) => i % ds.images.length);
  const l = new TrainLoader(ds, { batchSize, seed: 0, workers, transform: cfg, indices });
  const t = process.hrtime.bigint();
  let count = 0;
  for await (const b of l.epoch(0)) count += b.imageIds.length;
  return count / (Number(process.hrtime.bigint() - t) / 1e9);
}

/**
 * Share of wall time a consumer spends waiting for batches when each step holds
 * the event loop for `stepMs` (a synchronous engine call), excluding the first
 * batch (the pipeline filling up). `threaded`: the loader runs in a worker thread.
 */
async function waitShare(root: string, ds: CocoDataset, n: number, workers: number, stepMs: number, threaded: boolean, batchSize = 6): Promise<number> {
  const indices = Array.from({ length: n }, (_, i) => i % ds.images.length);
  const common = { batchSize, seed: 0, workers, transform: REFERENCE_TRAIN, indices };
  const threadedLoader = threaded
    ? await ThreadedTrainLoader.open({ ...common, annotationFile: path.join(root, 'annotations', 'instances_train.json'), imageDir: path.join(root, 'train'), prefetch: 2 })
    : null;
  const it = threadedLoader ? threadedLoader.epoch(0) : new TrainLoader(ds, common).epoch(0);
  let waited = 0;
  let t0 = 0n;
  for (let k = 0; ; k++) {
    const t = process.hrtime.bigint();
    const r = await it.next();
    if (k === 0) t0 = process.hrtime.bigint();
    else waited += Number(process.hrtime.bigint() - t) / 1e6;
    if (r.done) break;
    const end = Date.now() + stepMs;
    while (Date.now() < end) {
      /* the step holds the event loop, as a synchronous engine call would */
    }
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  await threadedLoader?.close();
  return waited / total;
}

export async function run(o: PipelineBenchOptions = {}): Promise<BenchRow[]> {
  const n = o.images ?? 192;
  const root = await cocoSizedDataset();
  const ds = await loadCoco(path.join(root, 'annotations', 'instances_train.json'), { imageDir: path.join(root, 'train') });
  const rows: BenchRow[] = [];
  // Warm-up (module loads, sharp init, page cache).
  await imagesPerSecond(ds, 12, 2, REFERENCE_TRAIN);

  {
    const t = process.hrtime.bigint();
    const files = ds.images.map((im) => path.join(ds.imageDir, im.fileName));
    for (let i = 0; i < n; i += 4) await Promise.all(files.slice(i % COUNT, (i % COUNT) + 4).map((f) => decodeImage(f)));
    rows.push({ name: 'data.decode_640x480_jpeg', metric: 'images/s', value: +(n / (Number(process.hrtime.bigint() - t) / 1e9)).toFixed(1) });
  }
  {
    // CPU time per image (all threads of this process): independent of other load on the machine;
    // with C idle cores the pipeline can deliver about C * 1000 / cpu_ms images/s.
    const c0 = process.cpuUsage();
    await imagesPerSecond(ds, n, 2, REFERENCE_TRAIN);
    const c = process.cpuUsage(c0);
    rows.push({ name: 'data.train_pipeline_511.cpu_ms_per_image', metric: 'ms', value: +((c.user + c.system) / 1000 / n).toFixed(2) });
  }
  for (const w of o.workers ?? [1, 2, 4, 8])
    rows.push({ name: `data.train_pipeline_511.workers_${w}`, metric: 'images/s', value: +(await imagesPerSecond(ds, n, w, REFERENCE_TRAIN)).toFixed(1) });

  // The synthetic default dataset at the shapes-tiny input size (128, crop 128).
  const synthRoot = path.join(os.tmpdir(), 'cornernet-bench-synth128-v1');
  if (!fs.existsSync(path.join(synthRoot, 'annotations', 'instances_train.json'))) await writeSynthDataset(synthRoot, { train: 64, val: 0, size: 128, seed: 0 });
  const synth = await loadCoco(path.join(synthRoot, 'annotations', 'instances_train.json'), { imageDir: path.join(synthRoot, 'train') });
  const cfg128: TrainTransformConfig = { ...REFERENCE_TRAIN, cropSize: [128, 128], outSize: [128, 128] };
  rows.push({ name: 'data.train_pipeline_synth128.workers_4', metric: 'images/s', value: +(await imagesPerSecond(synth, n * 2, 4, cfg128)).toFixed(1) });

  for (const step of o.stepMs ?? [100, 250])
    for (const threaded of [false, true])
      rows.push({
        name: `data.wait_share.step_${step}ms.batch_6.${threaded ? 'thread' : 'main'}_loader`,
        metric: '%',
        value: +(100 * (await waitShare(root, ds, Math.min(n, 96), 4, step, threaded))).toFixed(1),
      });
  return rows;
}

if (require.main === module) {
  run().then((rows) => {
    process.stdout.write(`cores: ${os.cpus().length}, load average: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
    for (const r of rows) process.stdout.write(`${r.name.padEnd(48)} ${String(r.value).padStart(8)} ${r.metric}\n`);
  });
}
