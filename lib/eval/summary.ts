// The familiar COCO summary text: the 12 lines pycocotools prints, and a per-category AP table.
import type { CategoryAp } from './coco_eval';
import { IOU_THRESHOLDS, MAX_DETS } from './coco_params';
import { formatFixed } from './fixed_format';

interface Line {
  ap: boolean;
  iouThr: number | null;
  area: string;
  maxDets: number;
}

const [M1, M10, M100] = MAX_DETS as [number, number, number];

const LINES: readonly Line[] = [
  { ap: true, iouThr: null, area: 'all', maxDets: M100 },
  { ap: true, iouThr: 0.5, area: 'all', maxDets: M100 },
  { ap: true, iouThr: 0.75, area: 'all', maxDets: M100 },
  { ap: true, iouThr: null, area: 'small', maxDets: M100 },
  { ap: true, iouThr: null, area: 'medium', maxDets: M100 },
  { ap: true, iouThr: null, area: 'large', maxDets: M100 },
  { ap: false, iouThr: null, area: 'all', maxDets: M1 },
  { ap: false, iouThr: null, area: 'all', maxDets: M10 },
  { ap: false, iouThr: null, area: 'all', maxDets: M100 },
  { ap: false, iouThr: null, area: 'small', maxDets: M100 },
  { ap: false, iouThr: null, area: 'medium', maxDets: M100 },
  { ap: false, iouThr: null, area: 'large', maxDets: M100 },
];

const IOU_RANGE = `${formatFixed(IOU_THRESHOLDS[0]!, 2)}:${formatFixed(IOU_THRESHOLDS[IOU_THRESHOLDS.length - 1]!, 2)}`;

/** One line exactly as pycocotools prints it: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'. */
function summaryLine(l: Line, value: number): string {
  const title = (l.ap ? 'Average Precision' : 'Average Recall').padEnd(18);
  const type = l.ap ? '(AP)' : '(AR)';
  const iou = (l.iouThr === null ? IOU_RANGE : formatFixed(l.iouThr, 2)).padEnd(9);
  return ` ${title} ${type} @[ IoU=${iou} | area=${l.area.padStart(6)} | maxDets=${String(l.maxDets).padStart(3)} ] = ${formatFixed(value, 3)}`;
}

/** The 12 summary lines for `stats` (in the reference's order), joined with newlines. */
export function formatSummary(stats: readonly number[]): string {
  if (stats.length !== LINES.length) throw new Error(`formatSummary: expected ${LINES.length} stats, got ${stats.length}`);
  return LINES.map((l, i) => summaryLine(l, stats[i]!)).join('\n');
}

/** A table of AP@[.50:.95] per category (area all, 100 detections); -1.000 marks a category without ground truth. */
export function formatPerCategory(perCategory: readonly CategoryAp[]): string {
  const nameWidth = Math.max(4, ...perCategory.map((c) => c.name.length));
  const idWidth = Math.max(2, ...perCategory.map((c) => String(c.id).length));
  const head = ` ${'id'.padStart(idWidth)}  ${'name'.padEnd(nameWidth)}  AP@[ IoU=${IOU_RANGE} | area=all | maxDets=${M100} ]`;
  const rows = perCategory.map((c) => ` ${String(c.id).padStart(idWidth)}  ${c.name.padEnd(nameWidth)}  ${formatFixed(c.ap, 3).padStart(6)}`);
  return [head, ...rows].join('\n');
}
