// Run by lifecycle.test.ts in a child process (`node --expose-gc`), so that
// the RSS it samples is this workload's alone: `load` loads and disposes a
// detector N times, keeping every disposed one referenced (as a program may:
// dispose() must free the engine memory whether or not the object can be
// collected); `detect` runs N detections on one detector. A collection runs
// before each sample, so that JavaScript garbage waiting for the collector
// does not count: what remains is memory held by live objects or leaked.
// Prints {baseline, samples} in MiB as JSON.
import { loadDetector } from '../../lib/detector';

declare const gc: () => void;

const mb = () => process.memoryUsage().rss / 2 ** 20;

async function main(): Promise<void> {
  const [mode, weights, image, countArg, keepArg] = process.argv.slice(2) as [string, string, string, string, string | undefined];
  const count = Number(countArg);
  // `keep`: never dispose (what the test would measure if dispose() freed nothing).
  const keep = keepArg === 'keep';
  const samples: number[] = [];
  let baseline = 0;
  const sample = () => {
    gc();
    return mb();
  };
  if (mode === 'load') {
    const held = [];
    const warmup = 10;
    for (let i = 0; i < warmup + count; i++) {
      if (i === warmup) baseline = sample();
      const det = await loadDetector({ weights, device: 'cpu' });
      await det.detect(image);
      if (!keep) det.dispose();
      held.push(det);
      if (i >= warmup && (i - warmup) % 10 === 9) samples.push(sample());
    }
  } else {
    const det = await loadDetector({ weights, device: 'cpu', scoreThreshold: 0 });
    const warmup = 50;
    for (let i = 0; i < warmup + count; i++) {
      if (i === warmup) baseline = sample();
      await det.detect(image);
      if (i >= warmup && (i - warmup) % 100 === 99) samples.push(sample());
    }
    det.dispose();
  }
  process.stdout.write(`${JSON.stringify({ baseline, samples })}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
