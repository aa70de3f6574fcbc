// Streaming load of a COCO instances file the size of instances_train2017.json
// (about 450 MB: 118,287 images, 860,001 annotations with polygon segmentation).
// The file is generated (deterministically, streamed to disk), then loaded in a
// fresh child process whose peak RSS is read from the kernel: the issue's bound
// is about 3 GB. Run alone: node dist/bench/data_load.js [--images N --annotations M]
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Rng } from '../lib/data/rng';

export interface BenchRow {
  name: string;
  metric: string;
  value: number;
  reference?: number | string;
}

export interface LoadBenchOptions {
  images?: number;
  annotations?: number;
  file?: string;
}

/** Writes a COCO-like instances file with real COCO's shape: 80 categories with ids 1..90, crowd boxes with RLE. */
export async function writeLargeInstances(file: string, images = 118287, annotations = 860001): Promise<number> {
  const rng = new Rng(2017, 'instances');
  const out = fs.createWriteStream(file);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  const catIds: number[] = [];
  for (let id = 1; catIds.length < 80; id++) if (![12, 26, 29, 30, 45, 66, 68, 69, 71, 83].includes(id)) catIds.push(id);
  await write('{"info":{"description":"COCO 2017 Dataset (generated stand-in)","url":"","version":"1.0","year":2017,"contributor":"bench","date_created":"2017/09/01"},');
  await write('"licenses":[{"url":"http://creativecommons.org/licenses/by-nc-sa/2.0/","id":1,"name":"Attribution-NonCommercial-ShareAlike License"}],"images":[');
  const dims: [number, number][] = [];
  let buf = '';
  for (let i = 0; i < images; i++) {
    const w = rng.pick([640, 480, 500, 427, 612]), h = rng.pick([480, 640, 375, 427, 333]);
    dims.push([w, h]);
    buf += `${i ? ',' : ''}{"license":1,"file_name":"${String(i + 1).padStart(12, '0')}.jpg","coco_url":"http://images.cocodataset.org/train2017/${String(i + 1).padStart(12, '0')}.jpg","height":${h},"width":${w},"date_captured":"2013-11-14 17:02:52","flickr_url":"http://farm4.staticflickr.com/3153/2970773875_164f0c0b83_z.jpg","id":${i + 1}}`;
    if (buf.length > 1 << 20) {
      await write(buf);
      buf = '';
    }
  }
  await write(`${buf}],"annotations":[`);
  buf = '';
  for (let a = 0; a < annotations; a++) {
    const img = a % images;
    const [w, h] = dims[img]!;
    const bw = rng.uniform(2, w / 2), bh = rng.uniform(2, h / 2);
    const x = rng.uniform(0, w - bw), y = rng.uniform(0, h - bh);
    const crowd = a % 100 === 99;
    let seg: string;
    if (crowd) {
      const counts = Array.from({ length: 60 }, () => rng.int(1, 400));
      seg = `{"counts":[${counts.join(',')}],"size":[${h},${w}]}`;
    } else {
      // COCO polygons average a few dozen vertices; sized so the file lands near 450 MB.
      const n = rng.int(12, 40);
      const pts: string[] = [];
      for (let k = 0; k < n; k++) {
        const t = (k / n) * 2 * Math.PI;
        pts.push(`${(x + bw / 2 + (Math.cos(t) * bw) / 2).toFixed(2)},${(y + bh / 2 + (Math.sin(t) * bh) / 2).toFixed(2)}`);
      }
      seg = `[[${pts.join(',')}]]`;
    }
    buf += `${a ? ',' : ''}{"segmentation":${seg},"area":${(bw * bh * 0.7).toFixed(4)},"iscrowd":${crowd ? 1 : 0},"image_id":${img + 1},"bbox":[${x.toFixed(2)},${y.toFixed(2)},${bw.toFixed(2)},${bh.toFixed(2)}],"category_id":${catIds[a % 80]},"id":${crowd ? 900100000000 + a : a + 1}}`;
    if (buf.length > 1 << 20) {
      await write(buf);
      buf = '';
    }
  }
  await write(`${buf}],"categories":[${catIds.map((id) => `{"supercategory":"thing","id":${id},"name":"class${id}"}`).join(',')}]}`);
  await new Promise<void>((r, j) => out.end(() => r()).on('error', j));
  return fs.statSync(file).size;
}

const CHILD = `
const { loadCoco, summarize } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'data', 'coco_loader.js'))});
const t0 = process.hrtime.bigint();
loadCoco(process.argv[1], { imageDir: '/nonexistent' }).then((ds) => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const s = summarize(ds);
  global.gc && global.gc();
  const heldMB = process.memoryUsage().rss / 1048576;
  process.stdout.write(JSON.stringify({ ms, maxRssMB: process.resourceUsage().maxRSS / 1024, heldMB, ...s }));
});`;

export async function run(o: LoadBenchOptions = {}): Promise<BenchRow[]> {
  const file = o.file ?? path.join(os.tmpdir(), `cornernet-bench-instances-${o.images ?? 118287}-${o.annotations ?? 860001}.json`);
  let genMs = 0;
  if (!fs.existsSync(file)) {
    const t = Date.now();
    await writeLargeInstances(`${file}.tmp`, o.images, o.annotations);
    fs.renameSync(`${file}.tmp`, file);
    genMs = Date.now() - t;
  }
  const bytes = fs.statSync(file).size;
  const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', CHILD, file], { encoding: 'utf8', maxBuffer: 1 << 20 })) as {
    ms: number;
    maxRssMB: number;
    heldMB: number;
    annotations: number;
    images: number;
  };
  const rows: BenchRow[] = [
    { name: 'coco_load.file_size', metric: 'MB', value: +(bytes / 1048576).toFixed(1), reference: 'instances_train2017.json ~448 MB' },
    { name: 'coco_load.annotations', metric: 'count', value: r.annotations, reference: 860001 },
    { name: 'coco_load.time', metric: 's', value: +(r.ms / 1000).toFixed(2) },
    { name: 'coco_load.throughput', metric: 'MB/s', value: +(bytes / 1048576 / (r.ms / 1000)).toFixed(1) },
    { name: 'coco_load.peak_rss', metric: 'MB', value: +r.maxRssMB.toFixed(0), reference: '<= ~3000 MB (issue bound)' },
    { name: 'coco_load.rss_after_load', metric: 'MB', value: +r.heldMB.toFixed(0) },
  ];
  if (genMs) rows.push({ name: 'coco_load.generate_file', metric: 's', value: +(genMs / 1000).toFixed(1) });
  return rows;
}

if (require.main === module) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(`--${k}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const o: LoadBenchOptions = {};
  const im = arg('images'), an = arg('annotations');
  if (im !== undefined) o.images = im;
  if (an !== undefined) o.annotations = an;
  run(o).then((rows) => {
    for (const r of rows) process.stdout.write(`${r.name.padEnd(28)} ${String(r.value).padStart(10)} ${r.metric}${r.reference !== undefined ? `   (reference: ${r.reference})` : ''}\n`);
  });
}
