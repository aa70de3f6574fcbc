// The JSON-lines metrics file of a training run: one record per logged step and
// per evaluation, appended as they happen (a killed run keeps what it logged).
import * as fs from 'fs';

export interface TrainRecord {
  kind: 'train';
  time: string;
  /** The backend the step ran on (cpu, cuda:0, cuda-emu). */
  device?: string;
  epoch: number;
  iter: number;
  lr: number;
  /** Every loss term (det, pull, push, off per stack, and total). */
  losses: Record<string, number>;
  imagesPerSec: number;
  /** Share of the step time spent waiting for data, 0..1. */
  dataWait: number;
}

export interface EvalRecord {
  kind: 'eval';
  time: string;
  device?: string;
  epoch: number;
  iter: number;
  /** The 12 COCO numbers in the reference order (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl). */
  stats: number[];
}

export type MetricsRecord = TrainRecord | EvalRecord;

export class MetricsLog {
  constructor(readonly file: string) {}

  append(rec: MetricsRecord): void {
    fs.appendFileSync(this.file, `${JSON.stringify(rec)}\n`);
  }

  /** Records in file order; a torn last line (killed mid-write) is dropped. */
  read(): MetricsRecord[] {
    if (!fs.existsSync(this.file)) return [];
    const out: MetricsRecord[] = [];
    const lines = fs.readFileSync(this.file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        out.push(JSON.parse(line) as MetricsRecord);
      } catch (e) {
        if (i < lines.length - 2) throw new Error(`${this.file}: line ${i + 1} is not JSON (${(e as Error).message})`);
      }
    });
    return out;
  }

  /** On resume: drop records logged after the checkpoint the run continues from. */
  truncateAfter(iter: number): void {
    const keep = this.read().filter((r) => r.iter <= iter);
    const tmp = `${this.file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, keep.map((r) => `${JSON.stringify(r)}\n`).join(''));
    fs.renameSync(tmp, this.file);
  }
}
