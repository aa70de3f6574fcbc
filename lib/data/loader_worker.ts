// The worker-thread side of ThreadedTrainLoader: loads the dataset and runs a
// TrainLoader on this thread's own event loop, so decoding and transforming go on
// while the main thread is busy in a (possibly synchronous) training step.
// Batches are posted with their pixel buffers transferred, not copied.
import { parentPort, workerData } from 'worker_threads';

import { CocoFormatError } from './coco_errors';
import { loadCoco } from './coco_loader';
import { TrainLoader, type TrainLoaderOptions } from './train_loader';
import type { ToWorker, FromWorker, WorkerInit } from './loader_protocol';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let credits = 0;
let wake: (() => void) | null = null;
let stop = false;
let abort = false;

async function main(): Promise<void> {
  const ds = await loadCoco(init.annotationFile, { imageDir: init.imageDir, ...(init.strict !== undefined ? { strict: init.strict } : {}) });
  const opts: TrainLoaderOptions = { ...init.loader, onBadImage: (issue) => post({ type: 'bad', issue }) };
  const loader = new TrainLoader(ds, opts);
  post({
    type: 'ready',
    info: {
      images: ds.images.length,
      trainImages: loader.indices.length,
      batchesPerEpoch: loader.batchesPerEpoch,
      categories: ds.categories,
      labelToCategoryId: ds.labelToCategoryId,
      issues: ds.issues,
    },
  });
  port.on('message', (m: ToWorker) => {
    if (m.type === 'credit') credits += m.count;
    else if (m.type === 'close') stop = true;
    else if (m.type === 'abort') abort = true;
    else if (m.type === 'epoch') void runEpoch(loader, m.epoch, m.prefetch);
    wake?.();
  });
}

async function runEpoch(loader: TrainLoader, epoch: number, prefetch: number): Promise<void> {
  credits = prefetch;
  abort = false;
  try {
    for await (const b of loader.epoch(epoch)) {
      while (credits <= 0 && !stop && !abort) await new Promise<void>((r) => (wake = r));
      if (stop || abort) break;
      credits--;
      post({ type: 'batch', epoch, batch: b }, [b.images.data.buffer as ArrayBuffer]);
    }
    post({ type: 'end', epoch, badImages: loader.badImages.length });
  } catch (e) {
    post(errorMessage(e));
  }
}

function errorMessage(e: unknown): FromWorker {
  if (e instanceof CocoFormatError) return { type: 'error', message: e.message, coco: { file: e.file, where: e.where, problem: e.problem } };
  return { type: 'error', message: (e as Error).message };
}

main().catch((e: unknown) => post(errorMessage(e)));
