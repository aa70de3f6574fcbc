// Decode time for one image: random head outputs (80 classes) at the feature
// sizes of 128x128, 511x511 and 767x511 (COCO-like) inputs, with and without the
// flip test. Run: npx tsc -p tsconfig.json && node dist/bench/decode.js
import { centerPadMeta, decode, flipped, type CornerHeadOutputs } from '../lib/decode';

// Deterministic normal samples (Box-Muller on a 32-bit LCG).
function normals(n: number, mean: number, std: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = mean + std * r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(t);
  }
  return out;
}

// 'noise': N(-4, 2) logits everywhere (local maxima everywhere). 'blobs': a
// trained network's look: background N(-9, 0.5) with 100 Gaussian bumps
// (amplitude 6-14, sigma 1-5 cells) spread over the classes.
function heatMap(kind: 'noise' | 'blobs', C: number, H: number, W: number, seed: number): Float32Array {
  if (kind === 'noise') return normals(C * H * W, -4, 2, seed);
  const m = normals(C * H * W, -9, 0.5, seed);
  const u = normals(500, 0, 1, seed + 1).map((v) => 0.5 + 0.5 * Math.tanh(v));
  for (let b = 0; b < 100; ++b) {
    const c = Math.floor(u[5 * b] * C) % C;
    const cy = u[5 * b + 1] * H;
    const cx = u[5 * b + 2] * W;
    const s = 1 + 4 * u[5 * b + 3];
    const a = 6 + 8 * u[5 * b + 4];
    for (let y = Math.max(0, Math.floor(cy - 4 * s)); y < Math.min(H, cy + 4 * s); ++y)
      for (let x = Math.max(0, Math.floor(cx - 4 * s)); x < Math.min(W, cx + 4 * s); ++x)
        m[(c * H + y) * W + x] += a * Math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s));
  }
  return m;
}

function heads(kind: 'noise' | 'blobs', C: number, H: number, W: number, seed: number): CornerHeadOutputs {
  const t = (c: number, mean: number, std: number, k: number) => ({ data: normals(c * H * W, mean, std, seed * 7 + k), shape: [1, c, H, W] });
  const heat = (k: number) => ({ data: heatMap(kind, C, H, W, seed * 7 + k), shape: [1, C, H, W] });
  return { tlHeat: heat(1), brHeat: heat(2), tlEmb: t(1, 0, 1, 3), brEmb: t(1, 0, 1, 4), tlOff: t(2, 0.5, 0.2, 5), brOff: t(2, 0.5, 0.2, 6) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const cases: [string, number, number][] = [
  ['128x128 input (32x32 maps)', 128, 128],
  ['511x511 input (128x128 maps)', 511, 511],
  ['767x511 input (192x128 maps)', 511, 767],
];
for (const kind of ['noise', 'blobs'] as const)
for (const [name, ih, iw] of cases) {
  const meta = { ...centerPadMeta(ih, iw), padShape: [ih | 127, iw | 127] };
  const fh = ((ih | 127) + 1) / 4;
  const fw = ((iw | 127) + 1) / 4;
  const view = heads(kind, 80, fh, fw, 1);
  const mirror = flipped(heads(kind, 80, fh, fw, 2));
  for (const flip of [false, true]) {
    const args = flip ? { ...view, ...mirror, meta } : { ...view, meta };
    decode(args);
    const times: number[] = [];
    const cpu: number[] = [];
    let n = 0;
    for (let i = 0; i < 15; ++i) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      n = decode(args)[0].scores.length;
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1e3);
    }
    console.log(
      `${kind} ${name}${flip ? ' + flip' : ''}: ${median(times).toFixed(2)} ms wall, ${median(cpu).toFixed(2)} ms CPU ` +
        `(medians of ${times.length}; ${n} detections)`
    );
  }
}
