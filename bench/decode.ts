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

function heads(C: number, H: number, W: number, seed: number): CornerHeadOutputs {
  const t = (c: number, mean: number, std: number, k: number) => ({ data: normals(c * H * W, mean, std, seed * 7 + k), shape: [1, c, H, W] });
  return { tlHeat: t(C, -4, 2, 1), brHeat: t(C, -4, 2, 2), tlEmb: t(1, 0, 1, 3), brEmb: t(1, 0, 1, 4), tlOff: t(2, 0.5, 0.2, 5), brOff: t(2, 0.5, 0.2, 6) };
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
for (const [name, ih, iw] of cases) {
  const meta = { ...centerPadMeta(ih, iw), padShape: [ih | 127, iw | 127] };
  const fh = ((ih | 127) + 1) / 4;
  const fw = ((iw | 127) + 1) / 4;
  const view = heads(80, fh, fw, 1);
  const mirror = flipped(heads(80, fh, fw, 2));
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
      `${name}${flip ? ' + flip' : ''}: ${median(times).toFixed(2)} ms wall, ${median(cpu).toFixed(2)} ms CPU ` +
        `(medians of ${times.length}; ${n} detections)`
    );
  }
}
