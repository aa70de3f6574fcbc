// One synthetic image: a textured background and a few coloured shapes that may
// overlap. Boxes are the exact bounds of each object's visible pixels (as COCO
// boxes bound the visible segment), areas count those pixels.
import { Rng } from '../rng';
import { scanPolygon, type Point } from './raster';
import { SHAPE_CLASSES } from './shapes';

export interface SceneOptions {
  size: number;
  /** Objects per image are drawn uniformly from [1, maxObjects]. */
  maxObjects?: number;
  /** Object size range as a fraction of the image side. */
  minScale?: number;
  maxScale?: number;
  /** An occluded object keeps at least this share of its pixels visible. */
  minVisible?: number;
}

export interface SceneObject {
  categoryId: number;
  /** The full outline (occluded parts included). */
  polygon: Point[];
  /** [x, y, w, h] of the visible pixels, integers. */
  bbox: [number, number, number, number];
  /** Visible pixel count. */
  area: number;
  color: [number, number, number];
}

export interface Scene {
  width: number;
  height: number;
  /** HWC, RGB. */
  rgb: Uint8Array;
  /** Per pixel: index into `objects`, or -1 for background. */
  instance: Int16Array;
  objects: SceneObject[];
}

export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h / 60) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5) * 255, f(3) * 255, f(1) * 255];
}

function background(rng: Rng, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h * 3);
  const base = hsvToRgb(rng.uniform(0, 360), rng.uniform(0.05, 0.35), rng.uniform(0.3, 0.75));
  const kind = rng.int(0, 3);
  const amp = rng.uniform(12, 30);
  let field: (x: number, y: number) => number;
  if (kind === 0) {
    // Value noise: random values on a coarse grid, bilinearly interpolated.
    const cell = rng.uniform(6, 24);
    const gw = Math.ceil(w / cell) + 2, gh = Math.ceil(h / cell) + 2;
    const g = Float32Array.from({ length: gw * gh }, () => rng.uniform(-1, 1));
    field = (x, y) => {
      const fx = x / cell, fy = y / cell;
      const ix = Math.floor(fx), iy = Math.floor(fy);
      const tx = fx - ix, ty = fy - iy;
      const at = (i: number, j: number) => g[j * gw + i]!;
      return (at(ix, iy) * (1 - tx) + at(ix + 1, iy) * tx) * (1 - ty) + (at(ix, iy + 1) * (1 - tx) + at(ix + 1, iy + 1) * tx) * ty;
    };
  } else if (kind === 1) {
    const theta = rng.uniform(0, Math.PI), period = rng.uniform(5, 20);
    const c = Math.cos(theta), s = Math.sin(theta);
    field = (x, y) => Math.sin(((x * c + y * s) * 2 * Math.PI) / period);
  } else {
    const cell = Math.round(rng.uniform(5, 18));
    field = (x, y) => ((Math.floor(x / cell) + Math.floor(y / cell)) % 2 ? 0.8 : -0.8);
  }
  const tint = [rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const v = field(x, y) * amp;
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = base[c]! + v * (0.7 + 0.3 * tint[c]!) + rng.uniform(-5, 5);
    }
  return out;
}

/**
 * Adds `polygon` to the scene being built when it covers at least `minPixels`
 * and hides no earlier object below `minVisible` of its full pixel count;
 * `instance` and the earlier objects' visible areas are updated. Returns the
 * new object's pixel count, or 0 when it was not placed.
 */
export function placeObject(
  instance: Int16Array, width: number, height: number, placed: { area: number; full: number }[], polygon: Point[], minVisible: number, minPixels = 30,
): number {
  const spans: [number, number, number][] = [];
  let count = 0;
  scanPolygon(polygon, width, height, (y, x0, x1) => {
    spans.push([y, x0, x1]);
    count += x1 - x0;
  });
  if (count < minPixels) return 0;
  // Would this hide too much of an earlier object?
  const hidden = new Array<number>(placed.length).fill(0);
  for (const [y, x0, x1] of spans) for (let x = x0; x < x1; x++) {
    const o = instance[y * width + x]!;
    if (o >= 0) hidden[o]!++;
  }
  if (hidden.some((hd, o) => placed[o]!.area - hd < minVisible * placed[o]!.full)) return 0;
  const idx = placed.length;
  for (const [y, x0, x1] of spans) instance.fill(idx, y * width + x0, y * width + x1);
  for (let o = 0; o < placed.length; o++) placed[o]!.area -= hidden[o]!;
  return count;
}

/** [x, y, w, h] of each object's visible pixels in the instance map (exact, integers). */
export function visibleBounds(instance: Int16Array, width: number, height: number, count: number): [number, number, number, number][] {
  const minX = new Array<number>(count).fill(Infinity), minY = new Array<number>(count).fill(Infinity);
  const maxX = new Array<number>(count).fill(-1), maxY = new Array<number>(count).fill(-1);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = instance[y * width + x]!;
      if (o < 0) continue;
      if (x < minX[o]!) minX[o] = x;
      if (x > maxX[o]!) maxX[o] = x;
      if (y < minY[o]!) minY[o] = y;
      if (y > maxY[o]!) maxY[o] = y;
    }
  return minX.map((_, i) => [minX[i]!, minY[i]!, maxX[i]! - minX[i]! + 1, maxY[i]! - minY[i]! + 1]);
}

function objectColor(rng: Rng, bgMean: number[]): [number, number, number] {
  for (let t = 0; ; t++) {
    const c = hsvToRgb(rng.uniform(0, 360), rng.uniform(0.55, 1), rng.uniform(0.55, 1));
    const d = Math.hypot(c[0] - bgMean[0]!, c[1] - bgMean[1]!, c[2] - bgMean[2]!);
    if (d > 90 || t > 30) return c;
  }
}

/** The mean of each of the 3 channels of an interleaved RGB image of `pixels` pixels. */
export function channelMeans(rgb: ArrayLike<number>, pixels: number): number[] {
  return [0, 1, 2].map((c) => {
    let s = 0;
    for (let i = c; i < rgb.length; i += 3) s += rgb[i]!;
    return s / pixels;
  });
}

export function renderScene(rng: Rng, opts: SceneOptions): Scene {
  const S = opts.size;
  const w = S, h = S;
  const maxObjects = opts.maxObjects ?? 4;
  const minScale = opts.minScale ?? 0.14, maxScale = opts.maxScale ?? 0.5;
  const minVisible = opts.minVisible ?? 0.55;
  const bg = background(rng, w, h);
  const bgMean = channelMeans(bg, w * h);
  const instance = new Int16Array(w * h).fill(-1);
  const placed: { area: number; full: number }[] = [];
  const objects: SceneObject[] = [];
  const n = rng.int(1, maxObjects + 1);
  for (let k = 0; k < n; k++) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cls = rng.pick(SHAPE_CLASSES);
      const size = rng.uniform(minScale, maxScale) * S;
      const cx = rng.uniform(size / 2 + 1, S - size / 2 - 1);
      const cy = rng.uniform(size / 2 + 1, S - size / 2 - 1);
      const polygon = cls.outline(rng, cx, cy, size);
      const count = placeObject(instance, w, h, placed, polygon, minVisible);
      if (!count) continue;
      placed.push({ area: count, full: count });
      objects.push({ categoryId: cls.id, polygon, bbox: [0, 0, 0, 0], area: count, color: objectColor(rng, bgMean) });
      break;
    }
  }
  // Exact visible bounds from the instance map.
  const bounds = visibleBounds(instance, w, h, objects.length);
  objects.forEach((o, i) => ((o.bbox = bounds[i]!), (o.area = placed[i]!.area)));

  // Shade each object with a gentle linear gradient so it is not a flat stamp.
  const shade = objects.map(() => [rng.uniform(-0.25, 0.25), rng.uniform(-0.25, 0.25)]);
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const o = instance[p]!;
      for (let c = 0; c < 3; c++) {
        let v: number;
        if (o < 0) v = bg[p * 3 + c]!;
        else {
          const ob = objects[o]!;
          const [sx, sy] = shade[o]!;
          const u = (x - ob.bbox[0]) / ob.bbox[2] - 0.5, t = (y - ob.bbox[1]) / ob.bbox[3] - 0.5;
          v = ob.color[c]! * (1 + sx * u + sy * t);
        }
        rgb[p * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  return { width: w, height: h, rgb, instance, objects };
}
