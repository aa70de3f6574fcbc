// Feeds training: shuffles the training images per epoch, decodes (sharp) and
// transforms (native, off the event loop) up to `workers` images at once, and
// yields batches in a fixed order. Every image's random choices come from
// Rng(seed, epoch, image index), so a run is reproducible whatever the number
// of workers. An image that is missing or cannot be decoded is reported, skipped
// (the next one takes its place) and counted; it never ends the epoch.
import * as path from 'path';

import type { TensorData } from '../native';
import { trainImageIndices, trainTargets } from './coco_loader';
import type { CocoDataset, DataIssue } from './coco_types';
import { DecodedImageCache, type DecodedCacheStats } from './decoded_cache';
import { decodeImage, type DecodedImage } from './image_decode';
import { imageTransformAsync } from './pixel_ops';
import { Rng } from './rng';
import { planTest, planTrain, REFERENCE_TEST, REFERENCE_TRAIN, type TestMeta, type TestTransformConfig, type TrainTransformConfig } from './transforms';

export interface TrainSample {
  imageIndex: number;
  imageId: number;
  /** 3 x H x W, normalised. */
  image: TensorData;
  /** x1, y1, x2, y2 per box, in network-input pixels. */
  boxes: Float32Array;
  labels: Int32Array;
}

export interface TrainBatch {
  /** N x 3 x H x W. */
  images: TensorData;
  boxes: Float32Array[];
  labels: Int32Array[];
  imageIds: number[];
  /**
   * Entries of the epoch's image order consumed once this batch is taken,
   * unreadable ones skipped before it included: where a resumed epoch continues
   * (`epoch(e, consumed)`), so that it meets the same skips and the same batches.
   */
  consumed: number;
}

export interface TrainLoaderOptions {
  batchSize: number;
  seed: number;
  /** Images decoded and transformed at once (default 4). */
  workers?: number;
  shuffle?: boolean;
  /** Drop a last incomplete batch (default true, as training wants equal batches). */
  dropLast?: boolean;
  transform?: TrainTransformConfig;
  /** Image indices to train on (default: trainImageIndices(ds), mmdet's filter). */
  indices?: number[];
  /** Bytes of decoded images kept between epochs (DecodedImageCache; default 0: none). */
  decodedCacheBytes?: number;
  /** Called once per unreadable image as it is skipped. */
  onBadImage?: (issue: DataIssue) => void;
  /**
   * Data parallelism over processes: every rank shuffles with the same seed, and
   * rank r takes the r-th block of batchSize entries of every `size` blocks of the
   * epoch's order, so its k-th batch is its slice of the global batch k of
   * batchSize x size images. Incomplete batches are always dropped.
   */
  shard?: { rank: number; size: number };
}

export class TrainLoader {
  readonly indices: number[];
  /** Every image skipped so far (all epochs). */
  readonly badImages: DataIssue[] = [];
  private readonly cfg: TrainTransformConfig;
  private readonly norm: { mean: TensorData; std: TensorData };
  /** Decoded images kept between epochs, when opts.decodedCacheBytes > 0. */
  readonly decodedCache: DecodedImageCache | null;

  constructor(
    readonly ds: CocoDataset,
    readonly opts: TrainLoaderOptions
  ) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`TrainLoader: batchSize must be a positive integer, got ${opts.batchSize}`);
    const sh = opts.shard;
    if (sh && !(Number.isInteger(sh.size) && sh.size >= 1 && Number.isInteger(sh.rank) && sh.rank >= 0 && sh.rank < sh.size))
      throw new RangeError(`TrainLoader: shard must be {rank, size} with 0 <= rank < size, got ${JSON.stringify(sh)}`);
    this.indices = opts.indices ?? trainImageIndices(ds);
    this.cfg = opts.transform ?? REFERENCE_TRAIN;
    this.norm = normTensors(this.cfg.mean, this.cfg.std);
    this.decodedCache = opts.decodedCacheBytes ? new DecodedImageCache(opts.decodedCacheBytes) : null;
  }

  /** Batches per epoch (an upper bound when images are skipped); with a shard, global batches (one slice of each here). */
  get batchesPerEpoch(): number {
    if (this.opts.shard) return Math.floor(this.indices.length / (this.opts.batchSize * this.opts.shard.size));
    const n = this.indices.length / this.opts.batchSize;
    return this.opts.dropLast === false ? Math.ceil(n) : Math.floor(n);
  }

  /** The image order of `epoch` (with a shard, this rank's part of it: its blocks of every global batch, then of the rest). */
  order(epoch: number): number[] {
    let o = [...this.indices];
    if (this.opts.shuffle !== false) {
      const p = new Rng(this.opts.seed, 'shuffle', epoch).permutation(o.length);
      o = p.map((i) => o[i]!);
    }
    const shard = this.opts.shard;
    if (!shard) return o;
    const bs = this.opts.batchSize;
    return o.filter((_, i) => Math.floor(i / bs) % shard.size === shard.rank);
  }

  /**
   * Decodes the training images into the decoded-image cache before the first
   * epoch, `workers` at a time, until the cache is full; without a cache, does
   * nothing. The first epoch then runs at the speed of every later one, which
   * is what a time budget measures its plan on (epoch 1 decoding every image was
   * ~10 % slower and the plan fitted that many fewer iterations). Images that
   * fail to decode are left for the epoch, which reports them.
   */
  async warmDecodedCache(signal?: AbortSignal): Promise<DecodedCacheStats | null> {
    const cache = this.decodedCache;
    if (!cache) return null;
    const workers = Math.max(1, this.opts.workers ?? 4);
    let next = 0;
    let full = false; // an image decoded but not kept: the rest would not be either
    const worker = async () => {
      while (next < this.indices.length && !full && !signal?.aborted) {
        const idx = this.indices[next++]!;
        if (cache.has(idx)) continue;
        const ok = await this.decoded(idx).then(() => true, () => false);
        if (ok && !cache.has(idx)) full = true;
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
    return cache.stats();
  }

  /** Image `imageIndex`'s pixels, from the cache or decoded (and then kept if the cache has room). */
  private async decoded(imageIndex: number): Promise<DecodedImage> {
    const img = this.ds.images[imageIndex]!;
    let decoded = this.decodedCache?.get(imageIndex);
    if (!decoded) {
      decoded = await decodeImage(path.join(this.ds.imageDir, img.fileName));
      if (decoded.width !== img.width || decoded.height !== img.height)
        throw new Error(`${path.join(this.ds.imageDir, img.fileName)}: decoded size ${decoded.width}x${decoded.height} differs from the annotation's ${img.width}x${img.height}`);
      this.decodedCache?.put(imageIndex, decoded);
    }
    return decoded;
  }

  /** One image through the full training pipeline. */
  async sample(imageIndex: number, epoch: number): Promise<TrainSample> {
    const img = this.ds.images[imageIndex]!;
    const decoded = await this.decoded(imageIndex);
    const t = trainTargets(this.ds, imageIndex);
    const rng = new Rng(this.opts.seed, 'sample', epoch, imageIndex);
    const plan = planTrain(rng, img.width, img.height, t.boxes, t.labels, this.cfg, this.norm);
    const image = await imageTransformAsync({ image: decoded.tensor, ...plan.args });
    return { imageIndex, imageId: img.id, image, boxes: plan.boxes, labels: plan.labels };
  }

  /**
   * The batches of one epoch, with `workers` images in flight ahead of the
   * consumer. `start` skips the first entries of the epoch's order (a resumed
   * run continues from the `consumed` of the last batch its checkpoint holds).
   */
  async *epoch(epoch: number, start = 0): AsyncGenerator<TrainBatch> {
    const order = this.order(epoch).slice(start);
    const workers = Math.max(1, this.opts.workers ?? 4);
    const bs = this.opts.batchSize;
    const inflight: Promise<TrainSample | DataIssue>[] = [];
    let next = 0;
    const launch = () => {
      while (inflight.length < workers && next < order.length) {
        const idx = order[next++]!;
        inflight.push(
          this.sample(idx, epoch).catch((e: Error): DataIssue => {
            const img = this.ds.images[idx]!;
            return { file: path.join(this.ds.imageDir, img.fileName), where: `images[${idx}] (id ${img.id})`, message: e.message };
          })
        );
      }
    };
    let batch: TrainSample[] = [];
    let consumed = start;
    launch();
    while (inflight.length > 0) {
      const r = await inflight.shift()!;
      consumed++;
      launch();
      if ('message' in r) {
        this.badImages.push(r);
        this.opts.onBadImage?.(r);
        continue;
      }
      batch.push(r);
      if (batch.length === bs) {
        yield collate(batch, consumed);
        batch = [];
      }
    }
    if (batch.length > 0 && this.opts.dropLast === false && !this.opts.shard) yield collate(batch, consumed);
  }
}

export function collate(samples: TrainSample[], consumed = samples.length): TrainBatch {
  const shape = samples[0]!.image.shape;
  const per = samples[0]!.image.data.length;
  const data = new Float32Array(per * samples.length);
  samples.forEach((s, i) => data.set(s.image.data, i * per));
  return {
    images: { data, shape: [samples.length, ...shape] },
    boxes: samples.map((s) => s.boxes),
    labels: samples.map((s) => s.labels),
    imageIds: samples.map((s) => s.imageId),
    consumed,
  };
}

function normTensors(mean: readonly number[], std: readonly number[]): { mean: TensorData; std: TensorData } {
  return { mean: { data: Float32Array.from(mean), shape: [3] }, std: { data: Float32Array.from(std), shape: [3] } };
}

export interface TestInput {
  /** 1 x 3 x H' x W' (padded), normalised. */
  image: TensorData;
  meta: TestMeta;
}

/** One image file through the test pipeline (centre pad with logical_or, optional flip). */
export async function loadTestImageFile(file: string, opts: { flip?: boolean; transform?: TestTransformConfig } = {}): Promise<TestInput> {
  return testInput(await decodeImage(file), opts);
}

/** A decoded image through the test pipeline (native, off the event loop). */
export async function testInput(decoded: DecodedImage, opts: { flip?: boolean; transform?: TestTransformConfig } = {}): Promise<TestInput> {
  const cfg = opts.transform ?? REFERENCE_TEST;
  const { args, meta } = planTest(decoded.width, decoded.height, opts.flip ?? false, cfg, normTensors(cfg.mean, cfg.std));
  const y = await imageTransformAsync({ image: decoded.tensor, ...args });
  return { image: { data: y.data, shape: [1, ...y.shape] }, meta };
}

/** One dataset image through the test pipeline. */
export async function loadTestImage(ds: CocoDataset, imageIndex: number, opts: { flip?: boolean; transform?: TestTransformConfig } = {}): Promise<TestInput> {
  const img = ds.images[imageIndex]!;
  return loadTestImageFile(path.join(ds.imageDir, img.fileName), opts);
}
