// The fixed evaluation settings of COCO bbox evaluation (pycocotools' defaults), as the exact float64 values
// the reference uses: results agree to the last bit only if thresholds are built the way numpy builds them.

/**
 * numpy.linspace(start, stop, num) with endpoint: i*step + start, the last value forced to stop. Written out
 * because the rounding of e.g. the 9th IoU threshold (0.8999999999999999) depends on this exact formula.
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const y = new Float64Array(num);
  if (num === 1) {
    y[0] = start;
    return y;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) y[i] = i * step + start;
  y[num - 1] = stop;
  return y;
}

/** IoU thresholds .50:.05:.95 (T = 10). */
export const IOU_THRESHOLDS: Float64Array = linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
/** Recall points 0:.01:1 (R = 101). */
export const RECALL_THRESHOLDS: Float64Array = linspace(0, 1, Math.round((1 - 0) / 0.01) + 1);
/** Detections per image kept for the three recall/precision settings, ascending; the last is the per-image cap. */
export const MAX_DETS: readonly number[] = [1, 10, 100];

export interface AreaRange {
  readonly label: 'all' | 'small' | 'medium' | 'large';
  /** Inclusive bounds on an object's area (gt: its `area` field; detection: w*h). */
  readonly min: number;
  readonly max: number;
}

export const AREA_RANGES: readonly AreaRange[] = [
  { label: 'all', min: 0, max: 1e10 },
  { label: 'small', min: 0, max: 32 ** 2 },
  { label: 'medium', min: 32 ** 2, max: 96 ** 2 },
  { label: 'large', min: 96 ** 2, max: 1e10 },
];
