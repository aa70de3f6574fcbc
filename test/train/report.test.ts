import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { MetricsLog, type MetricsRecord } from '../../lib/train/metrics_log';
import { reportHtml, writeReport } from '../../lib/train/report';

describe('train/metrics_log and report', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-report-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const rec = (iter: number): MetricsRecord => ({
    kind: 'train', time: new Date(0).toISOString(), epoch: 0, iter, lr: 1e-3, losses: { det: 10 / iter, total: 20 / iter }, imagesPerSec: 5, dataWait: 0.1,
  });

  it('appends, reads back, drops a torn last line, and truncates on resume', () => {
    const log = new MetricsLog(path.join(dir, 'metrics.jsonl'));
    [1, 2, 3, 4].forEach((i) => log.append(rec(i)));
    fs.appendFileSync(log.file, '{"kind":"tra'); // killed mid-write
    assert.deepEqual(log.read().map((r) => r.iter), [1, 2, 3, 4]);
    log.truncateAfter(2);
    assert.deepEqual(log.read().map((r) => r.iter), [1, 2]);
  });

  it('writes a self-contained HTML report with curves, the last evaluation and images', () => {
    const records: MetricsRecord[] = [rec(1), rec(2), { kind: 'eval', time: '', epoch: 0, iter: 2, stats: [0.5, 0.9, 0.6, -1, 0.4, 0.6, 0.3, 0.6, 0.6, -1, 0.5, 0.7] }];
    const file = writeReport(dir, 'shapes-tiny', records, [{ title: 'val #1', png: Buffer.from([137, 80, 78, 71]) }]);
    const html = fs.readFileSync(file, 'utf8');
    assert.equal(html, reportHtml('shapes-tiny', records, [{ title: 'val #1', png: Buffer.from([137, 80, 78, 71]) }]));
    assert.equal((html.match(/<svg /g) ?? []).length, 3);
    assert.match(html, /<td>0\.500<\/td><td>0\.900<\/td>/);
    assert.match(html, /data:image\/png;base64,iVBORw==/);
  });
});
