// The training loader on its own thread. Everything runs in a worker thread
// (loader_worker.ts) with its own event loop, so images keep being decoded and
// transformed while the main thread is blocked in a synchronous training step;
// the main thread only receives finished batches (pixel buffers transferred).
// Up to `prefetch` batches wait ready, plus `workers` images in flight.
import * as path from 'path';
import { Worker } from 'worker_threads';

import { CocoFormatError } from './coco_errors';
import type { DataIssue } from './coco_types';
import type { FromWorker, LoaderInfo, ToWorker, WorkerInit } from './loader_protocol';
import type { TrainBatch, TrainLoaderOptions } from './train_loader';

export interface ThreadedLoaderOptions extends TrainLoaderOptions {
  annotationFile: string;
  imageDir: string;
  strict?: boolean;
  /** Ready batches kept ahead of the consumer (default 2). */
  prefetch?: number;
}

export class ThreadedTrainLoader {
  readonly badImages: DataIssue[] = [];
  private queue: FromWorker[] = [];
  private waiter: (() => void) | null = null;
  private busy = false;

  private constructor(
    private readonly worker: Worker,
    readonly info: LoaderInfo,
    private readonly opts: ThreadedLoaderOptions
  ) {}

  static async open(opts: ThreadedLoaderOptions): Promise<ThreadedTrainLoader> {
    const { onBadImage: _cb, annotationFile, imageDir, strict, prefetch: _p, ...loader } = opts;
    void _cb;
    void _p;
    const init: WorkerInit = { annotationFile, imageDir, loader };
    if (strict !== undefined) init.strict = strict;
    const worker = new Worker(path.join(__dirname, 'loader_worker.js'), { workerData: init });
    const first = await new Promise<FromWorker>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.type !== 'ready') {
      await worker.terminate();
      if (first.type === 'error' && first.coco) throw new CocoFormatError(first.coco.file, first.coco.where, first.coco.problem);
      throw new Error(first.type === 'error' ? first.message : `data loader thread: unexpected message ${first.type}`);
    }
    const l = new ThreadedTrainLoader(worker, first.info, opts);
    worker.on('message', (m: FromWorker) => l.receive(m));
    worker.on('error', (e) => l.receive({ type: 'error', message: e.message }));
    return l;
  }

  private receive(m: FromWorker): void {
    if (m.type === 'bad') {
      this.badImages.push(m.issue);
      this.opts.onBadImage?.(m.issue);
      return;
    }
    this.queue.push(m);
    this.waiter?.();
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private async nextMessage(): Promise<FromWorker> {
    while (this.queue.length === 0) await new Promise<void>((r) => (this.waiter = r));
    this.waiter = null;
    return this.queue.shift()!;
  }

  /** The batches of one epoch; one epoch at a time. */
  async *epoch(epoch: number): AsyncGenerator<TrainBatch> {
    if (this.busy) throw new Error('ThreadedTrainLoader: an epoch is already being read');
    this.busy = true;
    let ended = false;
    try {
      this.send({ type: 'epoch', epoch, prefetch: Math.max(1, this.opts.prefetch ?? 2) });
      for (;;) {
        const m = await this.nextMessage();
        if (m.type === 'batch') {
          this.send({ type: 'credit', count: 1 });
          yield m.batch;
        } else if (m.type === 'end') {
          ended = true;
          return;
        } else if (m.type === 'error') {
          ended = true;
          throw new Error(`data loader thread: ${m.message}`);
        }
      }
    } finally {
      // The consumer stopped early: stop the worker's epoch and drop what it already sent.
      if (!ended) {
        this.send({ type: 'abort' });
        for (;;) {
          const m = await this.nextMessage();
          if (m.type === 'end' || m.type === 'error') break;
        }
      }
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    this.send({ type: 'close' });
    await this.worker.terminate();
  }
}

