// Detections over a dataset split: the reference test pipeline per image (centre
// pad with logical_or, optional mirrored view), the model in eval mode, CornerNet
// decoding of the last stack, boxes mapped back to the image, and COCO results
// ({image_id, category_id, bbox [x, y, w, h], score}). Used by `cornernet test`
// and by the evaluations during training.
import type { CocoDataset } from '../data/coco_types';
import { loadTestImage, type TestInput } from '../data/train_loader';
import type { TestTransformConfig } from '../data/transforms';
import { decodeAsync, flipped, type DecodeOptions, type Detections } from '../decode';
import type { Model } from '../model';
import type { CocoDetectionJson } from './coco_json';

export interface PredictOptions {
  /** Decode the mirrored image too and merge before soft-NMS (the reference's flip test). */
  flip?: boolean;
  decode?: DecodeOptions;
  transform?: TestTransformConfig;
  /** Image indices of `ds` to run (default: all). */
  indices?: number[];
  /** After each image: how many are done. */
  onImage?: (done: number, total: number) => void;
}

export interface ImagePrediction {
  imageIndex: number;
  detections: Detections;
}

/**
 * Detections of one image, in image pixels, best first. On a device backend the
 * model decodes where it ran (Model.detect: only the detections are downloaded);
 * on the CPU the head outputs are decoded on the host as before.
 */
export async function predictImage(model: Model, input: TestInput, mirror: TestInput | null, decode: DecodeOptions = {}): Promise<Detections> {
  const m = input.meta;
  const meta = { padShape: m.padShape, imgShape: m.imgShape, border: m.border };
  if (!model.backend.startsWith('cpu')) {
    const [det] = await model.detect(input.image, { ...decode, meta, ...(mirror ? { mirror: mirror.image } : {}) });
    return det!;
  }
  const outs = await model.forward(input.image);
  const last = outs[outs.length - 1]!;
  const args = { ...last, ...decode, meta };
  if (mirror) {
    const f = await model.forward(mirror.image);
    Object.assign(args, flipped(f[f.length - 1]!));
  }
  const [det] = await decodeAsync(args);
  return det!;
}

/** COCO results of one image's detections; labels map back to the dataset's category ids. */
export function toCocoResults(ds: CocoDataset, imageIndex: number, d: Detections): CocoDetectionJson[] {
  const out: CocoDetectionJson[] = [];
  const imageId = ds.images[imageIndex]!.id;
  for (let k = 0; k < d.scores.length; k++) {
    const [x1, y1, x2, y2] = [d.boxes[4 * k]!, d.boxes[4 * k + 1]!, d.boxes[4 * k + 2]!, d.boxes[4 * k + 3]!];
    const categoryId = ds.labelToCategoryId[d.labels[k]!];
    if (categoryId === undefined) throw new Error(`predict: label ${d.labels[k]} has no category in ${ds.annotationFile} (the model has more classes than the dataset)`);
    out.push({ image_id: imageId, category_id: categoryId, bbox: [x1, y1, x2 - x1, y2 - y1], score: d.scores[k]! });
  }
  return out;
}

/**
 * Each item with what `load` made of it, in order, the next item loading while
 * the consumer works on this one (the engine runs while the next image
 * decodes). A failed load is thrown when its item is reached, naming it as
 * `load` does; ending the loop early leaves at most one load running, unheard.
 */
export async function* prefetched<T, L>(
  items: Iterable<T> | AsyncIterable<T>,
  load: (item: T, index: number) => Promise<L>,
): AsyncGenerator<{ item: T; index: number; loaded: L }> {
  const it = Symbol.asyncIterator in items ? (items as AsyncIterable<T>)[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]();
  let index = 0;
  // The next load can fail before anything awaits it (an unreadable file): the
  // no-op catch marks it handled (else Node ends the process on an unhandled
  // rejection), and the await below still throws it.
  const start = () => {
    const p = (async () => {
      const r = await it.next();
      if (r.done) return null;
      const i = index++;
      return { item: r.value, index: i, loaded: await load(r.value, i) };
    })();
    p.catch(() => {});
    return p;
  };
  try {
    let next = start();
    for (;;) {
      const cur = await next;
      if (!cur) return;
      next = start();
      yield cur;
    }
  } finally {
    await it.return?.();
  }
}

/** Every image of the split; the next image is read while the model runs. */
export async function predictDataset(model: Model, ds: CocoDataset, o: PredictOptions = {}): Promise<{ results: CocoDetectionJson[]; perImage: ImagePrediction[] }> {
  const indices = o.indices ?? ds.images.map((_, i) => i);
  const load = (i: number) =>
    Promise.all([loadTestImage(ds, i, { transform: o.transform }), o.flip ? loadTestImage(ds, i, { flip: true, transform: o.transform }) : Promise.resolve(null)]);
  const results: CocoDetectionJson[] = [];
  const perImage: ImagePrediction[] = [];
  for await (const { item: imageIndex, index: n, loaded: [input, mirror] } of prefetched(indices, load)) {
    const det = await predictImage(model, input, mirror, o.decode);
    perImage.push({ imageIndex, detections: det });
    results.push(...toCocoResults(ds, imageIndex, det));
    o.onImage?.(n + 1, indices.length);
  }
  return { results, perImage };
}
