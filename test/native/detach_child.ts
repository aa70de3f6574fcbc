// Run by detach.test.ts as `node --expose-gc detach_child.js CASE`: an async
// call that takes typed arrays is started, then its input's ArrayBuffer is
// transferred away (structuredClone with transfer, as postMessage does) and the
// clone collected, so the memory the call was given is freed (buffers this
// large are unmapped, so a read of them faults) and new arrays are written
// where it was. Each call must still give the result of its inputs as they were
// when it was called. Prints the number of output values that differ from the
// inline call's on a copy (0 = exact).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { imageTransform, imageTransformAsync } from '../../lib/data/pixel_ops';
import { decode, decodeAsync } from '../../lib/decode';
import { loadSafetensors, saveSafetensorsAsync } from '../../lib/io/safetensors';
import { cornerPoolForward, cornerPoolForwardAsync, type TensorData } from '../../lib/ops';

const gc = (globalThis as { gc?: () => void }).gc;

// Over glibc's largest mmap threshold (32 MiB): each array is its own mapping, unmapped when freed.
const N = 10 << 20;

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32;
  }
  return a;
}

/** Detaches `a`'s buffer, lets the clone that took it be collected, and reuses the memory. */
function pullAway(...arrays: Float32Array[]): void {
  for (const a of arrays) structuredClone(a.buffer, { transfer: [a.buffer] });
  for (let i = 0; i < 3; i++) {
    gc!();
    new Float32Array(N).fill(-7);
  }
}

function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

const cases: Record<string, () => Promise<number>> = {
  async cornerPoolForwardAsync() {
    const x: TensorData = { data: random(N, 1), shape: [1, 10, 1024, 1024] };
    const want = cornerPoolForward({ x: { data: x.data.slice(), shape: x.shape }, mode: 'top' }).y.data;
    const p = cornerPoolForwardAsync({ x, mode: 'top' });
    pullAway(x.data);
    return mismatches((await p).y.data, want);
  },

  async imageTransformAsync() {
    const side = 1872; // 1872 x 1872 x 3 floats: just over N
    const args = {
      windowX: 0, windowY: 0, windowWidth: side, windowHeight: side, pasteX: 0, pasteY: 0, canvas: [side, side] as [number, number],
      size: [512, 512] as [number, number], flip: false, photometric: false,
      mean: { data: new Float32Array([120, 110, 100]), shape: [3] }, std: { data: new Float32Array([60, 60, 60]), shape: [3] },
    };
    const image: TensorData = { data: random(side * side * 3, 2).map((v) => v * 255), shape: [side, side, 3] };
    const want = imageTransform({ image: { data: image.data.slice(), shape: image.shape }, ...args }).data;
    const p = imageTransformAsync({ image, ...args });
    pullAway(image.data);
    return mismatches((await p).data, want);
  },

  async decodeAsync() {
    const [C, H, W] = [10, 1024, 1024];
    const heads = {
      tlHeat: { data: random(C * H * W, 3), shape: [1, C, H, W] },
      brHeat: { data: random(C * H * W, 4), shape: [1, C, H, W] },
      tlEmb: { data: random(H * W, 5), shape: [1, 1, H, W] },
      brEmb: { data: random(H * W, 6), shape: [1, 1, H, W] },
      tlOff: { data: random(2 * H * W, 7), shape: [1, 2, H, W] },
      brOff: { data: random(2 * H * W, 8), shape: [1, 2, H, W] },
    };
    const meta = { padShape: [H * 4, W * 4], imgShape: [H * 4, W * 4], border: [0, H * 4, 0, W * 4] as [number, number, number, number] };
    const copy = Object.fromEntries(Object.entries(heads).map(([k, v]) => [k, { data: v.data.slice(), shape: v.shape }])) as typeof heads;
    const [want] = decode({ ...copy, meta });
    const p = decodeAsync({ ...heads, meta });
    pullAway(...Object.values(heads).map((h) => h.data));
    const [got] = await p;
    return mismatches(got!.boxes, want!.boxes) + mismatches(got!.scores, want!.scores);
  },

  async safetensorsWriteAsync() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-detach-'));
    const file = path.join(dir, 'w.safetensors');
    const data = random(N, 9);
    const want = data.slice();
    const p = saveSafetensorsAsync(file, [['w', { shape: [N], data }]]);
    pullAway(data);
    await p;
    const n = mismatches(loadSafetensors(file).tensors.get('w')!.data as Float32Array, want);
    fs.rmSync(dir, { recursive: true, force: true });
    return n;
  },
};

export const CASES = Object.keys(cases);

async function main(name: string): Promise<void> {
  if (!gc) throw new Error('run with node --expose-gc');
  const c = cases[name];
  if (!c) throw new Error(`no case '${name}' (${CASES.join(', ')})`);
  process.stdout.write(`${await c()}\n`);
}

if (require.main === module)
  main(process.argv[2] ?? '').catch((e: Error) => {
    process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  });
