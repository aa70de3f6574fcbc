// A tiny CornerNet and deterministic batches for trainer tests (native_trainer,
// distributed): images from sines, two objects per image.
import type { ModelArchitecture, TrainBatch } from '../../lib/train/native_trainer';

export const tiny: ModelArchitecture = {
  numStacks: 2, downsampleTimes: 2, stageChannels: [8, 16, 12], stageBlocks: [1, 1, 1], featChannel: 8, numClasses: 3, poolFeatChannels: 8, headFeatChannels: 8,
};

function image(seed: number, H: number, W: number): Float32Array {
  return Float32Array.from({ length: 3 * H * W }, (_, i) => Math.sin(i * 0.013 + seed * 1.7) + 0.3 * Math.cos(i * 0.0041 * (seed + 1)));
}

// Two images, each with two objects of distinct classes (same positive count per image).
export function batchOf(imgs: number[], iter: number, lr = 1e-3): TrainBatch {
  const H = 64, W = 64;
  const data = new Float32Array(imgs.length * 3 * H * W);
  imgs.forEach((s, n) => data.set(image(s, H, W), n * 3 * H * W));
  const boxesFor = (s: number) => Float32Array.from(s % 2 === 0 ? [6, 8, 30, 40, 28, 20, 60, 58] : [10, 4, 50, 28, 2, 30, 26, 62]);
  return {
    images: { data, shape: [imgs.length, 3, H, W] },
    boxes: imgs.map(boxesFor),
    labels: imgs.map((s) => Int32Array.from(s % 2 === 0 ? [0, 2] : [1, 2])),
    lr,
    iter,
  };
}
