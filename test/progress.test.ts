import { strict as assert } from 'assert';
import { Writable } from 'stream';

import { createProgress, formatDuration, formatFields, formatRate } from '../lib/progress';

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

describe('progress', () => {
  it('formats durations and fields', () => {
    assert.equal(formatDuration(5), '5s');
    assert.equal(formatDuration(125), '2m05s');
    assert.equal(formatDuration(3 * 3600 + 60), '3h01m');
    assert.equal(formatDuration(NaN), '--');
    assert.equal(formatRate(23.456), '23.5');
    assert.equal(formatRate(0.0345), '0.035');
    assert.equal(formatFields({ loss: 1.23456, lr: 5e-4, iter: 3, phase: 'warmup' }), 'loss=1.2346 lr=5.00e-4 iter=3 phase=warmup');
  });

  it('prints plain lines with rate and ETA when not a TTY, throttled by interval', () => {
    const out = new Capture();
    let t = 0;
    const p = createProgress({ label: 'train', total: 100, unit: 'img', stream: out, intervalMs: 1000, now: () => t });
    t = 500;
    p.update(10, { loss: 2 }, 40); // first update always prints
    t = 800;
    p.update(20, { loss: 1.5 }, 80); // throttled
    t = 2000;
    p.update(50, { loss: 1 }, 200);
    t = 2100;
    p.update(100, { loss: 0.5 }, 400); // the last always prints
    p.log('eval: AP 0.512');
    p.stop();
    const lines = out.text.trim().split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], '[train] 10/100 (10.0%) loss=2 80.0 img/s eta 5s');
    assert.equal(lines[1], '[train] 50/100 (50.0%) loss=1 100.0 img/s eta 2s');
    assert.match(lines[2], /^\[train\] 100\/100 \(100\.0%\) loss=0\.5000 /);
    assert.equal(lines[3], 'eval: AP 0.512');
  });

  it('draws a bar on a TTY', () => {
    const out = new Capture();
    out.isTTY = true;
    const p = createProgress({ label: 'train', total: 10, stream: out, tty: true });
    p.update(5, { loss: 1 });
    p.stop();
    assert.match(out.text, /train \|.*\| 5\/10 loss=1/);
  });
});
