// The one-call detector: weights in, boxes out. loadDetector() opens the model
// as `cornernet test` / `detect` do (eval/open_model.ts); detect() takes a file,
// an encoded image or raw pixels through the reference test pipeline (decode,
// centre pad to (h | 127) x (w | 127), optional mirrored view, eval forward,
// CornerNet decoding, boxes back in image pixels: eval/predict.ts predictImage,
// the function `cornernet test` runs per image). `cornernet detect` is a user of
// this class, so the command and the API give the same numbers.
import type { ModelConfig } from './configs';
import { COCO_CATEGORY_IDS, COCO_CLASSES } from './data/coco_classes';
import { decodeImage, decodeImageBuffer, rawPixelsToImage, type DecodedImage, type RawPixels } from './data/image_decode';
import { testInput, type TestInput } from './data/train_loader';
import { REFERENCE_TEST, type TestMeta, type TestTransformConfig } from './data/transforms';
import { openModel } from './eval/open_model';
import { predictImage, prefetched } from './eval/predict';
import { Lifecycle } from './lifecycle';
import type { Model } from './model';
import type { TensorData } from './native';

export type { RawPixels } from './data/image_decode';

/** A file path, an encoded image (JPEG, PNG, WebP, ... in a Buffer or Uint8Array), or decoded pixels. */
export type DetectorInput = string | Uint8Array | RawPixels;

export interface DetectorOptions {
  /**
   * safetensors (a training checkpoint of this package, or weights under the
   * reference's key names) or a PyTorch checkpoint (.pth), read as --weights reads it.
   */
  weights: string;
  /**
   * The architecture: a recipe or model preset name, a JSON config file, or a
   * model config object. Default: the one the weights file records.
   */
  config?: string | ModelConfig;
  /** 'auto' (default: the first GPU when one works, else the CPU), 'cpu', 'cuda', 'cuda:N', 'cuda-emu'. */
  device?: string;
  /** Flip test: the mirrored image is decoded with it (the reference reports AP this way). Default false. */
  flip?: boolean;
  /** Detections scoring below it are dropped. Default 0.3. */
  scoreThreshold?: number;
  /** At most this many detections per image, best first (the decoder's max_per_img). Default 100. */
  maxDetections?: number;
  /** Where to say which device `auto` chose and why (default: nowhere). */
  log?: (line: string) => void;
}

export interface Detection {
  /** [x, y, width, height] in pixels of the original image. */
  bbox: [number, number, number, number];
  score: number;
  /** The category id: the training dataset's (as its annotations number them) when the weights record
   *  them, COCO's for an 80-class model that records none, else the class index. */
  categoryId: number;
  /** The model's class index (0-based; the order of the categories it was trained on). */
  classIndex: number;
  /** The class name: from the training checkpoint, COCO's for an 80-class model, else `class_<k>`. */
  label: string;
}

/** The detections of one image, best first, with where and how long they took. */
export type ImageDetections = Detection[] & {
  /** The backend that ran the model ('cpu', 'cuda:0', ...). */
  device: string;
  /** Image size [width, height]. */
  size: [number, number];
  /** Milliseconds: `load` decoding and the test transform, `model` the forward(s) and decoding. */
  timeMs: { load: number; model: number };
};

/** The corner heat maps of one image: per pixel of the network's output, the highest class probability. */
export interface CornerHeatmaps {
  /** [h, w] at the output resolution (the padded input / 4). */
  tl: TensorData;
  br: TensorData;
  /** Where the image sits in the padded network input the maps cover. */
  meta: TestMeta;
}

interface LoadedImage {
  input: TestInput;
  mirror: TestInput | null;
  size: [number, number];
  loadMs: number;
}

/** What `input` is, for errors: the path, or where it sits among the inputs. */
function inputName(input: DetectorInput, where: string): string {
  return typeof input === 'string' ? input : where;
}

async function decodeInput(input: DetectorInput, where: string): Promise<DecodedImage> {
  if (typeof input === 'string') return decodeImage(input);
  if (input instanceof Uint8Array) return decodeImageBuffer(input, `${where} (encoded image)`);
  if (input !== null && typeof input === 'object' && 'data' in input) return rawPixelsToImage(input, where);
  throw new TypeError(
    `${where} must be a file path, an encoded image (Buffer or Uint8Array) or raw pixels {data, width, height, channels}; got ${
      input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input
    }`,
  );
}

export class Detector {
  /** The backend the model runs on. */
  readonly device: string;
  /** Class names by class index. */
  readonly classNames: readonly string[];
  /** Category ids by class index. */
  readonly categoryIds: readonly number[];
  readonly flip: boolean;
  readonly scoreThreshold: number;
  readonly maxDetections: number;
  /** The test pipeline's padding and normalisation (the reference's unless the weights say otherwise). */
  private readonly transform: TestTransformConfig;
  private readonly lifecycle: Lifecycle;
  /** Settles when the last model call queued does: calls run one after the other (the engine refuses a second one while one runs). */
  private queue: Promise<void> = Promise.resolve();
  /** detect() and cornerHeatmaps() calls not yet settled, decoding included (what [Symbol.asyncDispose] waits for). */
  private readonly calls = new Set<Promise<void>>();

  /** Use loadDetector(). */
  constructor(
    private readonly modelRef: Model,
    o: { classNames: readonly string[]; categoryIds: readonly number[]; flip: boolean; scoreThreshold: number; maxDetections: number; transform?: TestTransformConfig },
  ) {
    this.device = modelRef.backend;
    this.classNames = o.classNames;
    this.categoryIds = o.categoryIds;
    this.flip = o.flip;
    this.scoreThreshold = o.scoreThreshold;
    this.maxDetections = o.maxDetections;
    this.transform = o.transform ?? REFERENCE_TEST;
    // The model is this detector's child: disposing the detector disposes it.
    this.lifecycle = new Lifecycle(this, 'Detector', () => modelRef.dispose());
  }

  /** The model (owned by the detector: disposed with it). */
  get model(): Model {
    this.lifecycle.check('model');
    return this.modelRef;
  }

  get disposed(): boolean {
    return this.lifecycle.disposed;
  }

  /** Detections of one image, best first, in its own pixels. */
  detect(input: DetectorInput): Promise<ImageDetections> {
    return this.call('detect', async () => this.run(await this.load(input, 'input'), 'detect'));
  }

  /** Detections of each input, in order; the next image decodes while the model runs. */
  async detectBatch(inputs: readonly DetectorInput[]): Promise<ImageDetections[]> {
    const out: ImageDetections[] = [];
    for await (const r of this.pipeline(inputs, 'detectBatch')) out.push(r);
    return out;
  }

  /**
   * Detections of each input as it is done, in order, for any number of inputs
   * (an array, a generator, an async iterable): the next image decodes while
   * the model runs on this one. An input that cannot be read ends the loop with
   * an error naming it (its path, or `inputs[i]`).
   */
  detectAll(inputs: Iterable<DetectorInput> | AsyncIterable<DetectorInput>): AsyncGenerator<ImageDetections> {
    return this.pipeline(inputs, 'detectAll');
  }

  /**
   * The corner heat maps of the last stack (sigmoid, highest class per pixel),
   * for looking at what a model sees: one more eval forward of the image.
   */
  cornerHeatmaps(input: DetectorInput): Promise<CornerHeatmaps> {
    return this.call('cornerHeatmaps', async () => {
      const { input: x } = await this.load(input, 'input', false);
      const levels = await this.serial('cornerHeatmaps', () => this.modelRef.forward(x.image));
      const last = levels[levels.length - 1]!;
      return { tl: maxClassProbability(last.tlHeat), br: maxClassProbability(last.brHeat), meta: x.meta };
    });
  }

  /** Frees the model's engine memory now (or once the call in flight ends); later calls throw. */
  dispose(): void {
    this.lifecycle.dispose();
  }

  /** `await using det = await loadDetector(...)`: waits for the detections in flight, then disposes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.calls, this.queue]);
    this.dispose();
  }

  /** Runs `work` unless disposed, counted among the calls in flight until it settles. */
  private call<T>(method: string, work: () => Promise<T>): Promise<T> {
    try {
      this.lifecycle.check(method);
    } catch (e) {
      return Promise.reject(e);
    }
    const p = work();
    const settled = p.then(
      () => {},
      () => {},
    );
    this.calls.add(settled);
    void settled.then(() => this.calls.delete(settled));
    return p;
  }

  private async load(input: DetectorInput, where: string, flip = this.flip): Promise<LoadedImage> {
    const t0 = performance.now();
    const decoded = await decodeInput(input, inputName(input, where));
    const transform = this.transform;
    const [x, mirror] = await Promise.all([testInput(decoded, { transform }), flip ? testInput(decoded, { flip: true, transform }) : null]);
    return { input: x, mirror, size: [decoded.width, decoded.height], loadMs: performance.now() - t0 };
  }

  private async *pipeline(inputs: Iterable<DetectorInput> | AsyncIterable<DetectorInput>, method: string): AsyncGenerator<ImageDetections> {
    this.lifecycle.check(method);
    for await (const { loaded } of prefetched(inputs, (input, i) => this.load(input, `inputs[${i}]`))) yield await this.run(loaded, method);
  }

  private serial<T>(method: string, work: () => Promise<T>): Promise<T> {
    const p = this.queue.then(() => {
      this.lifecycle.check(method);
      return work();
    });
    // Holding none of the results: a disposed detector kept referenced keeps no detections alive.
    this.queue = p.then(
      () => {},
      () => {},
    );
    return p;
  }

  private async run(img: LoadedImage, method: string): Promise<ImageDetections> {
    let modelMs = 0;
    const d = await this.serial(method, async () => {
      const t0 = performance.now();
      const r = await predictImage(this.modelRef, img.input, img.mirror, { maxPerImg: this.maxDetections });
      modelMs = performance.now() - t0;
      return r;
    });
    const dets: Detection[] = [];
    for (let k = 0; k < d.scores.length; k++) {
      const score = d.scores[k]!;
      if (score < this.scoreThreshold) continue;
      const [x1, y1, x2, y2] = [d.boxes[4 * k]!, d.boxes[4 * k + 1]!, d.boxes[4 * k + 2]!, d.boxes[4 * k + 3]!];
      const classIndex = d.labels[k]!;
      dets.push({
        bbox: [x1, y1, x2 - x1, y2 - y1], score, categoryId: this.categoryIds[classIndex] ?? classIndex, classIndex,
        label: this.classNames[classIndex] ?? `class_${classIndex}`,
      });
    }
    return Object.assign(dets, { device: this.device, size: img.size, timeMs: { load: img.loadMs, model: modelMs } });
  }
}

/** [1, C, h, w] logits to [h, w]: the sigmoid of the largest logit per pixel. */
function maxClassProbability(heat: TensorData): TensorData {
  const [, c, h, w] = heat.shape as [number, number, number, number];
  const plane = h * w;
  const out = new Float32Array(plane).fill(-Infinity);
  for (let k = 0; k < c; k++) {
    const src = heat.data.subarray(k * plane, (k + 1) * plane);
    for (let i = 0; i < plane; i++) if (src[i]! > out[i]!) out[i] = src[i]!;
  }
  for (let i = 0; i < plane; i++) out[i] = 1 / (1 + Math.exp(-out[i]!));
  return { data: out, shape: [h, w] };
}

function checkOptions(o: DetectorOptions): void {
  if (o === null || typeof o !== 'object') throw new TypeError(`loadDetector: expected an options object {weights, config?, device?, ...}, got ${String(o)}`);
  if (typeof o.weights !== 'string' || o.weights === '') throw new TypeError(`loadDetector: options.weights must be the path of a weights file, got ${JSON.stringify(o.weights)}`);
  if (o.config !== undefined && typeof o.config !== 'string' && (o.config === null || typeof o.config !== 'object'))
    throw new TypeError(`loadDetector: options.config must be a preset name, a JSON file or a model config object, got ${JSON.stringify(o.config)}`);
  if (o.device !== undefined && typeof o.device !== 'string') throw new TypeError(`loadDetector: options.device must be a string such as 'cpu' or 'cuda:0', got ${JSON.stringify(o.device)}`);
  if (o.flip !== undefined && typeof o.flip !== 'boolean') throw new TypeError(`loadDetector: options.flip must be a boolean, got ${JSON.stringify(o.flip)}`);
  const t = o.scoreThreshold;
  if (t !== undefined && !(typeof t === 'number' && t >= 0 && t <= 1)) throw new RangeError(`loadDetector: options.scoreThreshold must be a number in [0, 1], got ${JSON.stringify(t)}`);
  const m = o.maxDetections;
  if (m !== undefined && !(typeof m === 'number' && Number.isInteger(m) && m >= 1)) throw new RangeError(`loadDetector: options.maxDetections must be a positive integer, got ${JSON.stringify(m)}`);
}

/**
 * A detector for `weights`: the architecture from `config` or the file, the
 * weights loaded strictly by name, on `device`. Dispose it (or `await using`)
 * to free the model's memory.
 */
export function loadDetector(o: DetectorOptions): Promise<Detector> {
  return openDetector(o, 'options');
}

/**
 * loadDetector for a caller that says which names its errors use: 'options'
 * (options.weights, ...) for code, 'flags' (--weights, ...) for `cornernet detect`.
 */
export async function openDetector(o: DetectorOptions, errorTerms: 'options' | 'flags'): Promise<Detector> {
  checkOptions(o);
  let opened: Awaited<ReturnType<typeof openModel>>;
  try {
    opened = await openModel({ config: o.config, weights: o.weights, device: o.device, log: o.log });
  } catch (e) {
    // The model is opened as the commands open it, whose errors name their flags.
    if (errorTerms === 'options' && e instanceof Error) e.message = e.message.replace(/--(weights|config|device)\b/g, 'options.$1');
    throw e;
  }
  const { model, classNames, categoryIds, transform } = opened;
  const n = model.config.numClasses;
  const coco = n === COCO_CLASSES.length;
  const names = classNames ?? (coco ? [...COCO_CLASSES] : Array.from({ length: n }, (_, k) => `class_${k}`));
  const ids = categoryIds?.length === n ? categoryIds : coco ? [...COCO_CATEGORY_IDS] : Array.from({ length: n }, (_, k) => k);
  return new Detector(model, { classNames: names, categoryIds: ids, flip: o.flip ?? false, scoreThreshold: o.scoreThreshold ?? 0.3, maxDetections: o.maxDetections ?? 100, transform });
}
