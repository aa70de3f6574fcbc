// Inline SVG line charts for the training report. Hand-written on purpose: a
// few polylines with axes do not justify a charting dependency.

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  width?: number;
  height?: number;
  /** Log scale on y (losses spanning decades). */
  logY?: boolean;
}

const COLOURS = ['#4363d8', '#e6194b', '#3cb44b', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324'];

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12 * Math.abs(hi); t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4))));
const esc = (s: string) => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);

export function lineChartSvg(series: readonly Series[], o: ChartOptions): string {
  const W = o.width ?? 640, H = o.height ?? 320;
  const m = { l: 60, r: 140, t: 28, b: 40 };
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!o.logY || y > 0));
  if (pts.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="10" y="20">${esc(o.title)}: no data</text></svg>`;
  const ty = (y: number) => (o.logY ? Math.log10(y) : y);
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = Math.min(...pts.map((p) => ty(p[1]))), y1 = Math.max(...pts.map((p) => ty(p[1])));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) (y0 -= 0.5), (y1 += 0.5);
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((ty(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<text x="${m.l}" y="18" font-size="14" font-family="sans-serif">${esc(o.title)}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`);
  for (const t of niceTicks(x0, x1)) {
    parts.push(`<text x="${sx(t)}" y="${H - m.b + 14}" font-size="10" text-anchor="middle" font-family="sans-serif">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    const yv = o.logY ? 10 ** t : t;
    const py = H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py}" y2="${py}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 4}" y="${py + 3}" font-size="10" text-anchor="end" font-family="sans-serif">${fmt(yv)}</text>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" font-size="11" text-anchor="middle" font-family="sans-serif">${esc(o.xLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLOURS[i % COLOURS.length];
    const ok = s.points.filter(([, y]) => Number.isFinite(y) && (!o.logY || y > 0));
    if (ok.length) parts.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${ok.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    parts.push(`<rect x="${W - m.r + 10}" y="${m.t + i * 16}" width="10" height="10" fill="${c}"/>`);
    parts.push(`<text x="${W - m.r + 24}" y="${m.t + i * 16 + 9}" font-size="11" font-family="sans-serif">${esc(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${parts.join('')}</svg>`;
}
