// A small scanline rasteriser for the synthetic dataset: filling polygons is
// what this dataset generator exists to do, so it is written here rather than
// pulled in. A pixel belongs to a polygon when its centre (x + 0.5, y + 0.5) is
// inside (even-odd rule); with hard edges every object's pixels, and so its
// box, are known exactly.

export type Point = [number, number];

/** Calls span(y, x0, x1) for each run of covered pixels [x0, x1) of the polygon, clipped to width x height. */
export function scanPolygon(poly: readonly Point[], width: number, height: number, span: (y: number, x0: number, x1: number) => void): void {
  let minY = Infinity, maxY = -Infinity;
  for (const [, y] of poly) {
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const y0 = Math.max(0, Math.floor(minY - 0.5));
  const y1 = Math.min(height - 1, Math.ceil(maxY - 0.5));
  const xs: number[] = [];
  for (let y = y0; y <= y1; y++) {
    const cy = y + 0.5;
    xs.length = 0;
    for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
      const [xi, yi] = poly[i]!;
      const [xj, yj] = poly[j]!;
      // Half-open in y so a vertex on the scanline is counted once.
      if (yi <= cy !== yj <= cy) xs.push(xi + ((cy - yi) / (yj - yi)) * (xj - xi));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // Pixels whose centre lies in [xa, xb).
      const a = Math.max(0, Math.ceil(xs[k]! - 0.5));
      const b = Math.min(width, Math.ceil(xs[k + 1]! - 0.5));
      if (b > a) span(y, a, b);
    }
  }
}
