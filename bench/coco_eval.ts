// COCO bbox evaluation on a val2017-sized synthetic case (5,000 images, ~36,000 gt boxes, 80 categories
// with COCO's ids, 100 detections per image), timed with and without loading the JSON files, evaluate and
// accumulate apart. The reference figures are pycocotools' on the project's machine (49 s: evaluate 40 s,
// accumulate 9 s).
//
//   node dist/bench/coco_eval.js [--write DIR]   (DIR keeps gt.json/dt.json, e.g. to run pycocotools on them)
//
// As a group of the bench runner: `cocoEvalGroups` (structurally a BenchGroup[] of bench/harness.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

import { accumulate, evaluateImages, perCategoryAp, STAT_NAMES, summarize } from '../lib/eval/coco_eval';
import type { CocoAnnotationJson, CocoDetectionJson, CocoGroundTruthJson } from '../lib/eval/coco_json';
import { parseDetections, parseGroundTruth, readDetections, readGroundTruth } from '../lib/eval/coco_json';
import { mulberry32 } from './rng';
import type { BenchResult } from './harness';

/** COCO's 80 category ids: 1..90 without the 10 ids the 2017 release left unused. */
export const COCO_CATEGORY_IDS: readonly number[] = Array.from({ length: 90 }, (_, i) => i + 1)
  .filter((id) => ![12, 26, 29, 30, 45, 66, 68, 69, 71, 83].includes(id));

export interface SyntheticCocoCase {
  gt: CocoGroundTruthJson;
  dt: CocoDetectionJson[];
}

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * A val2017-like case: object counts per image, a skewed class mix, sizes spread over small/medium/large,
 * some crowd regions, and a detector-like result list (jittered hits, duplicates, class confusions, false
 * positives; per image the 100 best, scores with 3 decimals so that ties are common).
 */
export function generateCocoCase(seed = 2017, numImages = 5000, detsPerImage = 100): SyntheticCocoCase {
  const rand = mulberry32(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const cats = COCO_CATEGORY_IDS;
  const category = (): number => (rand() < 0.3 ? 1 : pick(cats));

  const imageIds = new Set<number>();
  while (imageIds.size < numImages) imageIds.add(1 + Math.floor(rand() * 581929));
  const images = [...imageIds].map((id) => {
    const landscape = rand() < 0.75;
    const short = 330 + Math.floor(rand() * 150);
    return { id, width: landscape ? 640 : short, height: landscape ? short : 640, file_name: `${String(id).padStart(12, '0')}.jpg` };
  });

  const annotations: CocoAnnotationJson[] = [];
  const dt: CocoDetectionJson[] = [];
  for (const im of images) {
    const n = Math.min(60, Math.floor(-Math.log(1 - rand()) * 7.8));
    const classes = Array.from({ length: 1 + Math.floor(rand() * 4) }, category);
    const box = (): number[] => {
      const side = Math.exp(Math.log(4) + rand() * (Math.log(420) - Math.log(4)));
      const ar = Math.exp(0.5 * gauss());
      const w = Math.min(im.width - 1, side * Math.sqrt(ar));
      const h = Math.min(im.height - 1, side / Math.sqrt(ar));
      return [round(rand() * (im.width - w), 2), round(rand() * (im.height - h), 2), round(w, 2), round(h, 2)];
    };
    const cands: CocoDetectionJson[] = [];
    for (let j = 0; j < n; j++) {
      const catId = pick(classes);
      const b = box();
      const crowd = rand() < 0.01 ? 1 : 0;
      annotations.push({
        id: annotations.length + 1, image_id: im.id, category_id: catId, bbox: b,
        area: round(b[2]! * b[3]! * (0.5 + 0.4 * rand()), 2), iscrowd: crowd,
      });
      const jitter = (s: number): number[] => {
        const [x, y, w, h] = b as [number, number, number, number];
        const nw = Math.max(1, w * (1 + s * gauss())), nh = Math.max(1, h * (1 + s * gauss()));
        return [round(x + s * w * gauss(), 2), round(y + s * h * gauss(), 2), round(nw, 2), round(nh, 2)];
      };
      if (rand() < 0.8) cands.push({ image_id: im.id, category_id: catId, bbox: jitter(0.08), score: 0.3 + 0.7 * rand() });
      if (rand() < 0.3) cands.push({ image_id: im.id, category_id: catId, bbox: jitter(0.2), score: 0.6 * rand() });
      if (rand() < 0.1) cands.push({ image_id: im.id, category_id: category(), bbox: jitter(0.1), score: 0.5 * rand() });
    }
    while (cands.length < detsPerImage) {
      const catId = rand() < 0.5 ? pick(classes) : category();
      cands.push({ image_id: im.id, category_id: catId, bbox: box(), score: 0.4 * rand() ** 3 });
    }
    for (const c of cands) c.score = round(c.score, 3);
    cands.sort((a, b) => b.score - a.score);
    dt.push(...cands.slice(0, detsPerImage));
  }
  const categories = cats.map((id) => ({ id, name: `category_${id}`, supercategory: 'synthetic' }));
  return { gt: { images, annotations, categories }, dt };
}

/** One row of the bench table. */
export type CocoEvalBenchRow = BenchResult;

const GROUP = 'coco-eval';
/** pycocotools on the project's machine, same case size. */
const PYCOCOTOOLS_S = { evaluate: 40, accumulate: 9, total: 49 };

interface Sample {
  wall: number;
  /** CPU seconds of this process: on a shared, busy machine closer to what the code costs than wall time. */
  cpu: number;
}

function measure(fn: () => void): Sample {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medians(samples: Sample[]): Sample {
  return { wall: median(samples.map((x) => x.wall)), cpu: median(samples.map((x) => x.cpu)) };
}

export interface CocoEvalBenchOptions {
  seed?: number;
  reps?: number;
  /** Keep gt.json and dt.json here instead of a temporary folder. */
  writeDir?: string;
}

/** Runs the benchmark; returns the rows and the 12 stats (identical on every run: the case is seeded). */
export async function runCocoEvalBench(opts: CocoEvalBenchOptions = {}): Promise<{ rows: CocoEvalBenchRow[]; stats: number[]; perCategoryMean: number }> {
  const reps = opts.reps ?? 3;
  const c = generateCocoCase(opts.seed ?? 2017);
  const dir = opts.writeDir ?? mkdtempSync(join(tmpdir(), 'cornernet-cocoeval-'));
  mkdirSync(dir, { recursive: true });
  const gtFile = join(dir, 'gt.json');
  const dtFile = join(dir, 'dt.json');
  writeFileSync(gtFile, JSON.stringify(c.gt));
  writeFileSync(dtFile, JSON.stringify(c.dt));

  const gt = parseGroundTruth(c.gt, 'gt');
  const dt = parseDetections(c.dt, gt, 'dt');
  const tEval: Sample[] = [], tAcc: Sample[] = [], tSum: Sample[] = [], tLoad: Sample[] = [], tAll: Sample[] = [];
  let stats: number[] = [];
  let perCategoryMean = 0;
  try {
    for (let r = 0; r < reps; r++) {
      let ev!: ReturnType<typeof evaluateImages>;
      let acc!: ReturnType<typeof accumulate>;
      tEval.push(measure(() => { ev = evaluateImages(gt, dt); }));
      tAcc.push(measure(() => { acc = accumulate(ev, dt.scores); }));
      tSum.push(measure(() => {
        stats = summarize(acc);
        const aps = perCategoryAp(gt, acc).map((x) => x.ap).filter((v) => v > -1);
        perCategoryMean = aps.reduce((s, v) => s + v, 0) / aps.length;
      }));
      tLoad.push(measure(() => {
        readDetections(dtFile, readGroundTruth(gtFile));
      }));
      tAll.push(measure(() => {
        const g = readGroundTruth(gtFile);
        const d = readDetections(dtFile, g);
        const a = accumulate(evaluateImages(g, d), d.scores);
        summarize(a);
        perCategoryAp(g, a);
      }));
    }
  } finally {
    if (!opts.writeDir) rmSync(dir, { recursive: true, force: true });
  }
  const ev = medians(tEval), ac = medians(tAcc), su = medians(tSum), lo = medians(tLoad), all = medians(tAll);
  const excluded = { wall: ev.wall + ac.wall + su.wall, cpu: ev.cpu + ac.cpu + su.cpu };
  const caseDetails = {
    images: c.gt.images.length, gtBoxes: c.gt.annotations.length, categories: c.gt.categories.length, detections: c.dt.length, reps,
  };
  const row = (name: string, t: Sample, ref?: { value: number; label: string }): CocoEvalBenchRow => ({
    group: GROUP, name, metric: 's', value: t.wall, cpu: t.cpu,
    ...(ref ? { reference: ref, ratio: ref.value / t.wall } : {}),
    details: { cpuSeconds: t.cpu },
  });
  const rows: CocoEvalBenchRow[] = [
    row('evaluate (per image matching)', ev, { value: PYCOCOTOOLS_S.evaluate, label: 'pycocotools' }),
    row('accumulate (PR curves)', ac, { value: PYCOCOTOOLS_S.accumulate, label: 'pycocotools' }),
    row('summarize + per-category AP', su),
    row('whole evaluation, load excluded', excluded, { value: PYCOCOTOOLS_S.total, label: 'pycocotools evaluate+accumulate; target < 10 s' }),
    row('load gt.json + dt.json (read, parse, validate)', lo),
    row('whole evaluation, load included', all, { value: PYCOCOTOOLS_S.total, label: 'pycocotools evaluate+accumulate; target < 10 s' }),
  ];
  rows[0]!.details = { ...rows[0]!.details, ...caseDetails };
  return { rows, stats, perCategoryMean };
}

/** The group for bench/run.ts (add `...cocoEvalGroups` to bench/groups.ts). */
export const cocoEvalGroups = [
  {
    name: GROUP,
    description: 'COCO bbox evaluation of a val2017-sized synthetic case (5k images, 500k detections) vs pycocotools',
    run: async (ctx: { note(line: string): void }): Promise<CocoEvalBenchRow[]> => {
      const { rows, stats } = await runCocoEvalBench();
      ctx.note('coco-eval: medians of 3 runs');
      ctx.note(`coco-eval stats (seed 2017): ${stats.map((s, i) => `${STAT_NAMES[i]}=${s}`).join(' ')}`);
      return rows;
    },
  },
];

if (require.main === module) {
  const i = process.argv.indexOf('--write');
  const writeDir = i > 0 ? process.argv[i + 1] : undefined;
  runCocoEvalBench(writeDir ? { writeDir } : {}).then(({ rows, stats }) => {
    for (const r of rows) {
      const ref = r.reference ? `   ${r.ratio!.toFixed(1)}x faster than ${r.reference.value} s (${r.reference.label})` : '';
      const cpu = Number(r.details!.cpuSeconds);
      console.log(`${r.name.padEnd(48)} ${r.value.toFixed(3).padStart(7)} s wall ${cpu.toFixed(3).padStart(7)} s cpu${ref}`);
    }
    const { cpuSeconds: _cpu, ...shape } = rows[0]!.details!;
    console.log(`case: ${JSON.stringify(shape)}`);
    stats.forEach((s, k) => console.log(`${STAT_NAMES[k]!.padEnd(10)} ${s}`));
    if (writeDir) console.log(`gt.json and dt.json are in ${writeDir}`);
  }).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  });
}
