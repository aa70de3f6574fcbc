// Typed access to the data-pipeline pixel op of the addon (native/data/,
// bindings/ops_data.cc). `imageTransformAsync` runs on a libuv worker thread.
import { native, type NativeOpAsyncFn, type NativeOpFn, type TensorData } from '../native';

export type ChannelOrder = [number, number, number];

/**
 * The most pixels an image may have: imageTransform refuses a larger image,
 * canvas or output (native/data/image_transform.h, kMaxPixels), and image files
 * past it are refused before they are decoded (image_decode.ts).
 */
export const MAX_IMAGE_PIXELS = 2 ** 26;

export interface ImageTransformArgs {
  /** H x W x 3, RGB, 0..255 (not clipped: photometric values may leave that range, as in the reference). */
  image: TensorData;
  /** Window of the image that is kept. */
  windowX: number;
  windowY: number;
  windowWidth: number;
  windowHeight: number;
  /** Where the window's top-left lands in the canvas. */
  pasteX: number;
  pasteY: number;
  /** Canvas [h, w], filled with `mean` outside the window. */
  canvas: [number, number];
  /** Output [h, w]: the canvas resized bilinearly (OpenCV INTER_LINEAR). */
  size: [number, number];
  flip: boolean;
  mean: TensorData;
  std: TensorData;
  photometric: boolean;
  brightness?: number;
  contrast?: number;
  contrastFirst?: boolean;
  saturation?: number;
  hue?: number;
  /** Output channel c takes input channel channelOrder[c]. */
  channelOrder?: ChannelOrder;
}

const PERMS = ['012', '021', '102', '120', '201', '210'];

function toNative(a: ImageTransformArgs): Record<string, unknown> {
  const order = a.channelOrder ?? [0, 1, 2];
  const code = PERMS.indexOf(order.join(''));
  if (code < 0) throw new RangeError(`imageTransform: channelOrder must be a permutation of [0, 1, 2], got [${order.join(', ')}]`);
  return { ...a, channelOrder: code };
}

function op(name: string): NativeOpFn {
  const f = native().ops[name];
  if (typeof f !== 'function') throw new Error(`cornernet-native: the addon has no op '${name}'; rebuild it (npm run build:native)`);
  return f as NativeOpFn;
}

/** 3 x size[0] x size[1], normalised. Runs on the calling thread. */
export function imageTransform(a: ImageTransformArgs): TensorData {
  return op('imageTransform')(toNative(a)).y!;
}

/** As imageTransform, off the event loop. */
export async function imageTransformAsync(a: ImageTransformArgs): Promise<TensorData> {
  const r = await (op('imageTransformAsync') as unknown as NativeOpAsyncFn)(toNative(a));
  return r.y!;
}
