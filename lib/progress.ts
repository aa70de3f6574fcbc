// Progress of long work (training, evaluation, dataset generation): a bar with
// rate and ETA on a TTY (cli-progress), plain periodic log lines otherwise, so
// logs of CI runs and `nohup` jobs stay readable.
import { SingleBar } from 'cli-progress';

export type ProgressFields = Record<string, string | number>;

export interface ProgressOptions {
  /** What is being done, e.g. 'train' or 'eval'. */
  label: string;
  total: number;
  /** Unit of the rate, e.g. 'img' gives 'img/s'. */
  unit?: string;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force the bar on or off; default: on when the stream is a TTY. */
  tty?: boolean;
  /** Plain mode: at most one line per this many ms (the last update always prints). */
  intervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface Progress {
  /** `done` units of `total` finished; `items` processed since the start (for the rate). */
  update(done: number, fields?: ProgressFields, items?: number): void;
  /** The run's length changed (a time-budgeted plan). */
  setTotal(total: number): void;
  /** A line that must not be overwritten by the bar (evaluation results, warnings). */
  log(line: string): void;
  stop(): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

/** One decimal from 1/s up; slow work (hourglass104 on a CPU: 0.03 img/s) keeps two significant digits. */
export function formatRate(r: number): string {
  return r >= 1 || r === 0 ? r.toFixed(1) : r.toPrecision(2);
}

function formatValue(v: string | number): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(4);
}

export function formatFields(f: ProgressFields): string {
  return Object.entries(f)
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(' ');
}

export function createProgress(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  const tty = o.tty ?? Boolean((stream as { isTTY?: boolean }).isTTY);
  const now = o.now ?? (() => Date.now());
  const unit = o.unit ?? 'it';
  const t0 = now();
  let total = o.total;
  let lastPrint = -Infinity;
  let lastDone = 0;
  const rateOf = (done: number, items: number | undefined) => {
    const secs = (now() - t0) / 1000;
    const n = items ?? done;
    return secs > 0 ? n / secs : 0;
  };
  const etaOf = (done: number) => {
    const secs = (now() - t0) / 1000;
    return done > 0 ? (secs / done) * (total - done) : NaN;
  };

  if (tty) {
    const bar = new SingleBar(
      {
        format: `${o.label} |{bar}| {value}/{total} {fields} | {rate} ${unit}/s | ETA {etaText}`,
        stream: stream as NodeJS.WritableStream,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 24,
        etaBuffer: 50,
      },
    );
    bar.start(o.total, 0, { fields: '', rate: '0.0', etaText: '--' });
    return {
      update(done, fields = {}, items) {
        lastDone = done;
        bar.update(done, { fields: formatFields(fields), rate: formatRate(rateOf(done, items)), etaText: formatDuration(etaOf(done)) });
      },
      setTotal(n) {
        total = n;
        bar.setTotal(n);
      },
      log(line) {
        // Clear the bar's line, print, and let the next update redraw it.
        stream.write(`\r\x1b[K${line}\n`);
        bar.render();
      },
      stop() {
        bar.stop();
      },
    };
  }

  const interval = o.intervalMs ?? 10000;
  return {
    update(done, fields = {}, items) {
      lastDone = done;
      const t = now();
      if (t - lastPrint < interval && done < total) return;
      lastPrint = t;
      const pct = total > 0 ? ((100 * done) / total).toFixed(1) : '0.0';
      const f = formatFields(fields);
      stream.write(
        `[${o.label}] ${done}/${total} (${pct}%)${f ? ` ${f}` : ''} ${formatRate(rateOf(done, items))} ${unit}/s eta ${formatDuration(etaOf(done))}\n`,
      );
    },
    setTotal(n) {
      total = n;
    },
    log(line) {
      stream.write(`${line}\n`);
    },
    stop() {
      void lastDone;
    },
  };
}
