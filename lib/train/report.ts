// The report a training run leaves in its work dir: loss and AP curves and a
// few val images with predicted boxes, as one self-contained HTML page.
import * as fs from 'fs';
import * as path from 'path';

import { lineChartSvg, type Series } from '../render/line_chart';
import type { EvalRecord, MetricsRecord, TrainRecord } from './metrics_log';

export interface ReportImage {
  title: string;
  png: Buffer;
}

const STAT_NAMES = ['AP', 'AP50', 'AP75', 'AP_small', 'AP_medium', 'AP_large', 'AR1', 'AR10', 'AR100', 'AR_small', 'AR_medium', 'AR_large'];

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

export function reportHtml(title: string, records: readonly MetricsRecord[], images: readonly ReportImage[]): string {
  const train = records.filter((r): r is TrainRecord => r.kind === 'train');
  const evals = records.filter((r): r is EvalRecord => r.kind === 'eval');
  // Terms summed over stacks, and the total; the per-stack terms stay in metrics.jsonl.
  const terms = [...new Set(train.flatMap((r) => Object.keys(r.losses)))].filter((t) => !/_l\d+$/.test(t));
  const lossSeries: Series[] = terms.map((t) => ({ name: t, points: train.map((r) => [r.iter, r.losses[t] ?? NaN]) }));
  const apSeries: Series[] = [0, 1, 2].map((k) => ({ name: STAT_NAMES[k]!, points: evals.map((r) => [r.iter, r.stats[k] ?? NaN]) }));
  const lrSeries: Series[] = [{ name: 'lr', points: train.map((r) => [r.iter, r.lr]) }];
  const last = evals[evals.length - 1];
  const table = last
    ? `<table><tr>${STAT_NAMES.map((n) => `<th>${n}</th>`).join('')}</tr><tr>${last.stats.map((v) => `<td>${v.toFixed(3)}</td>`).join('')}</tr></table>`
    : '<p>No evaluation yet.</p>';
  const imgs = images
    .map((im) => `<figure><img src="data:image/png;base64,${im.png.toString('base64')}" alt="${esc(im.title)}"/><figcaption>${esc(im.title)}</figcaption></figure>`)
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}figure{display:inline-block;margin:8px}img{image-rendering:pixelated;max-width:384px}</style>
</head><body>
<h1>${esc(title)}</h1>
<h2>Final evaluation${last ? ` (epoch ${last.epoch + 1}, iteration ${last.iter})` : ''}</h2>
${table}
<h2>Curves</h2>
${lineChartSvg(lossSeries, { title: 'training losses', xLabel: 'iteration', logY: true })}
${lineChartSvg(apSeries, { title: 'val AP', xLabel: 'iteration' })}
${lineChartSvg(lrSeries, { title: 'learning rate', xLabel: 'iteration' })}
<h2>Val images with predicted boxes</h2>
${imgs || '<p>None.</p>'}
</body></html>
`;
}

export function writeReport(workDir: string, title: string, records: readonly MetricsRecord[], images: readonly ReportImage[]): string {
  const file = path.join(workDir, 'report.html');
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, reportHtml(title, records, images));
  fs.renameSync(tmp, file);
  return file;
}
