// CPU cost per training image of candidate recipe model shapes (lib/train
// recipes): CPU-seconds per image from queued trainer steps on in-memory
// batches, which, unlike wall time, hardly depends on other work sharing the
// machine. Images per minute of a recipe on N cores ~ 60 N / (CPU s per image).
//   node dist/bench/recipe_shapes.js [--timed N]
import { modelPreset } from '../lib/configs';
import type { ModelConfig } from '../lib/configs/model_config';
import { syntheticBatch, timeTrainerSteps } from './trainer_steps';

const tiny = modelPreset('shapes-tiny');
const shapes: Record<string, ModelConfig> = {
  'shapes-tiny (32-48-64-64, heads 32)': tiny,
  'narrow (24-32-48-48, heads 32)': { ...tiny, stageChannels: [24, 32, 48, 48] },
  'pytorch-ref (32-64-64-64, heads 32)': { ...tiny, stageChannels: [32, 64, 64, 64] },
  'wide heads (32-48-64-64, heads 64)': { ...tiny, poolFeatChannels: 64, headFeatChannels: 64 },
};

async function main() {
  const i = process.argv.indexOf('--timed');
  const timed = i > 0 ? Number(process.argv[i + 1]) : 6;
  for (const batch of [8, 16])
    for (const [name, model] of Object.entries(shapes)) {
      const batches = [0, 1, 2, 3].map((k) => syntheticBatch(batch, 128, model.numClasses, 3, 11 + k));
      const adam = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 35 };
      const t = await timeTrainerSteps({ model, seed: 0, backend: 'cpu', adam }, (it) => batches[it % 4]!, { warmup: 2, timed, mode: 'queued' });
      console.log(`${name} batch ${batch}: ${(t.cpuSeconds / batch * 1000).toFixed(1)} CPU ms/image, ${(timed * batch / t.wallSeconds[0]!).toFixed(1)} images/s wall`);
    }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
