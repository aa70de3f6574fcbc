// The classes of the synthetic dataset, each a polygon generator. Colour is
// drawn independently of the class, so a detector has to learn shape.
import type { Rng } from '../rng';
import type { Point } from './raster';

export interface ShapeClass {
  id: number;
  name: string;
  /** Outline centred at (cx, cy) fitting a box of about `size` pixels. */
  outline(rng: Rng, cx: number, cy: number, size: number): Point[];
}

const rotate = (pts: Point[], cx: number, cy: number, angle: number): Point[] => {
  const c = Math.cos(angle), s = Math.sin(angle);
  return pts.map(([x, y]) => [cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c]);
};

export const SHAPE_CLASSES: readonly ShapeClass[] = [
  {
    id: 1,
    name: 'circle',
    outline: (_rng, cx, cy, size) => {
      // 64 vertices: the polygon and the drawn disc agree to well under a pixel at these sizes.
      const r = size / 2;
      return Array.from({ length: 64 }, (_, i): Point => [cx + r * Math.cos((i * Math.PI) / 32), cy + r * Math.sin((i * Math.PI) / 32)]);
    },
  },
  {
    id: 2,
    name: 'rectangle',
    outline: (rng, cx, cy, size) => {
      const ar = rng.uniform(0.6, 1.0);
      const [w, h] = rng.chance() ? [size, size * ar] : [size * ar, size];
      return [[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]];
    },
  },
  {
    id: 3,
    name: 'triangle',
    outline: (rng, cx, cy, size) => {
      const h = size * 0.9;
      const pts: Point[] = [[cx, cy - h / 2], [cx + size / 2, cy + h / 2], [cx - size / 2, cy + h / 2]];
      return rotate(pts, cx, cy, rng.uniform(-0.35, 0.35) + (rng.chance(0.25) ? Math.PI : 0));
    },
  },
  {
    id: 4,
    name: 'diamond',
    outline: (rng, cx, cy, size) => {
      const ar = rng.uniform(0.65, 1.0);
      const [w, h] = rng.chance() ? [size, size * ar] : [size * ar, size];
      return [[cx, cy - h / 2], [cx + w / 2, cy], [cx, cy + h / 2], [cx - w / 2, cy]];
    },
  },
  {
    id: 5,
    name: 'cross',
    outline: (rng, cx, cy, size) => {
      const a = size / 2, t = size * rng.uniform(0.14, 0.2);
      const pts: Point[] = [
        [cx - t, cy - a], [cx + t, cy - a], [cx + t, cy - t], [cx + a, cy - t], [cx + a, cy + t], [cx + t, cy + t],
        [cx + t, cy + a], [cx - t, cy + a], [cx - t, cy + t], [cx - a, cy + t], [cx - a, cy - t], [cx - t, cy - t],
      ];
      return rotate(pts, cx, cy, rng.uniform(-0.3, 0.3));
    },
  },
];
