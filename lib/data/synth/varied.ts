// The second synthetic dataset (`cornernet synth --kind varied`), made to differ
// from the first (scene.ts, shapes.ts) wherever a recipe tuned on one could
// overfit it: images of varied, non-square size; other shapes (stars,
// hexagons, ellipses, arrows) under non-contiguous category ids; 2-5 objects of
// 12-45 % of the shorter side, more strongly occluded; backgrounds that are
// noisy two-colour gradients with soft blobs; objects with noise and stripes of
// their own; JPEG at a lower quality with chroma subsampling. Boxes are the
// exact bounds of each object's visible pixels, as in the first.
import { Rng } from '../rng';
import type { Point } from './raster';
import { channelMeans, hsvToRgb, placeObject, visibleBounds, type Scene, type SceneObject } from './scene';
import type { ShapeClass } from './shapes';

const rotate = (pts: Point[], cx: number, cy: number, angle: number): Point[] => {
  const c = Math.cos(angle), s = Math.sin(angle);
  return pts.map(([x, y]) => [cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c]);
};

export const VARIED_CLASSES: readonly ShapeClass[] = [
  {
    id: 3,
    name: 'star',
    outline: (rng, cx, cy, size) => {
      // 5 or 6 points, inner radius 40-55 % of the outer.
      const points = rng.chance() ? 5 : 6, outer = size / 2, inner = outer * rng.uniform(0.4, 0.55), a0 = rng.uniform(0, Math.PI);
      return Array.from({ length: 2 * points }, (_, i): Point => {
        const r = i % 2 ? inner : outer, a = a0 + (i * Math.PI) / points;
        return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
      });
    },
  },
  {
    id: 7,
    name: 'hexagon',
    outline: (rng, cx, cy, size) => {
      const r = size / 2, a0 = rng.uniform(0, Math.PI / 3), squash = rng.uniform(0.75, 1);
      const pts = Array.from({ length: 6 }, (_, i): Point => [cx + r * Math.cos(a0 + (i * Math.PI) / 3), cy + squash * r * Math.sin(a0 + (i * Math.PI) / 3)]);
      return rotate(pts, cx, cy, rng.uniform(0, Math.PI));
    },
  },
  {
    id: 11,
    name: 'ellipse',
    outline: (rng, cx, cy, size) => {
      // Elongated (1.6-2.6 : 1), any orientation: not a circle of the first dataset.
      const a = size / 2, b = a / rng.uniform(1.6, 2.6), theta = rng.uniform(0, Math.PI);
      const pts = Array.from({ length: 64 }, (_, i): Point => [cx + a * Math.cos((i * Math.PI) / 32), cy + b * Math.sin((i * Math.PI) / 32)]);
      return rotate(pts, cx, cy, theta);
    },
  },
  {
    id: 20,
    name: 'arrow',
    outline: (rng, cx, cy, size) => {
      const l = size / 2, shaft = size * rng.uniform(0.1, 0.16), head = size * rng.uniform(0.22, 0.3), neck = l - size * rng.uniform(0.3, 0.42);
      const pts: Point[] = [
        [cx - l, cy - shaft], [cx + neck, cy - shaft], [cx + neck, cy - head], [cx + l, cy],
        [cx + neck, cy + head], [cx + neck, cy + shaft], [cx - l, cy + shaft],
      ];
      return rotate(pts, cx, cy, rng.uniform(0, 2 * Math.PI));
    },
  },
];

export interface VariedOptions {
  /** Mean image side: width and height are each drawn from [7/9, 11/9] of it (144: 112-176 px). */
  size: number;
  /** Objects per image are drawn uniformly from [minObjects, maxObjects] (default 2-5). */
  minObjects?: number;
  maxObjects?: number;
}

/** Side range of a `size`: [7/9, 11/9] of it, rounded. */
export function variedSides(size: number): [number, number] {
  return [Math.round((size * 7) / 9), Math.round((size * 11) / 9)];
}

/** A noisy linear gradient between two colours, with a few soft blobs. */
function background(rng: Rng, w: number, h: number): Float32Array {
  const from = hsvToRgb(rng.uniform(0, 360), rng.uniform(0.1, 0.6), rng.uniform(0.25, 0.85));
  const to = hsvToRgb(rng.uniform(0, 360), rng.uniform(0.1, 0.6), rng.uniform(0.25, 0.85));
  const theta = rng.uniform(0, 2 * Math.PI), gx = Math.cos(theta), gy = Math.sin(theta);
  const span = Math.abs(gx) * w + Math.abs(gy) * h;
  const blobs = Array.from({ length: rng.int(0, 4) }, () => ({
    x: rng.uniform(0, w), y: rng.uniform(0, h), r: rng.uniform(8, 30), v: rng.uniform(-40, 40),
  }));
  const noise = rng.uniform(6, 18);
  const out = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const t = Math.min(1, Math.max(0, ((x - w / 2) * gx + (y - h / 2) * gy) / span + 0.5));
      let blob = 0;
      for (const b of blobs) blob += b.v * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.r * b.r));
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = from[c]! * (1 - t) + to[c]! * t + blob + rng.uniform(-noise, noise);
    }
  return out;
}

/** A colour at least `minDistance` (RGB) from the background's mean where one is found in a few tries. */
function objectColor(rng: Rng, bgMean: number[], minDistance = 70): [number, number, number] {
  for (let t = 0; ; t++) {
    const c = hsvToRgb(rng.uniform(0, 360), rng.uniform(0.3, 1), rng.uniform(0.35, 1));
    if (Math.hypot(c[0] - bgMean[0]!, c[1] - bgMean[1]!, c[2] - bgMean[2]!) > minDistance || t > 30) return c;
  }
}

export function renderVariedScene(rng: Rng, opts: VariedOptions): Scene {
  const [lo, hi] = variedSides(opts.size);
  const w = rng.int(lo, hi + 1), h = rng.int(lo, hi + 1);
  const minObjects = opts.minObjects ?? 2, maxObjects = opts.maxObjects ?? 5;
  const side = Math.min(w, h);
  const bg = background(rng, w, h);
  const bgMean = channelMeans(bg, w * h);
  const instance = new Int16Array(w * h).fill(-1);
  const placed: { area: number; full: number }[] = [];
  const objects: SceneObject[] = [];
  const n = rng.int(minObjects, maxObjects + 1);
  for (let k = 0; k < n; k++) {
    for (let attempt = 0; attempt < 30; attempt++) {
      const cls = rng.pick(VARIED_CLASSES);
      const size = rng.uniform(0.12, 0.45) * side;
      // Centres may lie near the border: an object can be cut by the image edge.
      const cx = rng.uniform(size * 0.3, w - size * 0.3), cy = rng.uniform(size * 0.3, h - size * 0.3);
      const polygon = cls.outline(rng, cx, cy, size);
      // An occluded object keeps at least 40 % of its pixels visible.
      const count = placeObject(instance, w, h, placed, polygon, 0.4, 40);
      if (!count) continue;
      placed.push({ area: count, full: count });
      objects.push({ categoryId: cls.id, polygon, bbox: [0, 0, 0, 0], area: count, color: objectColor(rng, bgMean) });
      break;
    }
  }
  const bounds = visibleBounds(instance, w, h, objects.length);
  objects.forEach((o, i) => ((o.bbox = bounds[i]!), (o.area = placed[i]!.area)));

  // Each object: its own noise, and on some, stripes at an angle.
  const texture = objects.map(() => ({
    noise: rng.uniform(4, 14),
    stripes: rng.chance(0.4) ? { angle: rng.uniform(0, Math.PI), period: rng.uniform(4, 10), depth: rng.uniform(0.12, 0.3) } : null,
  }));
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const o = instance[p]!;
      let stripe = 1;
      const tx = o >= 0 ? texture[o]! : null;
      if (tx?.stripes) {
        const { angle, period, depth } = tx.stripes;
        stripe = 1 - depth * (Math.sin(((x * Math.cos(angle) + y * Math.sin(angle)) * 2 * Math.PI) / period) > 0 ? 1 : 0);
      }
      for (let c = 0; c < 3; c++) {
        const v = o < 0 ? bg[p * 3 + c]! : objects[o]!.color[c]! * stripe + rng.uniform(-tx!.noise, tx!.noise);
        rgb[p * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  return { width: w, height: h, rgb, instance, objects };
}
