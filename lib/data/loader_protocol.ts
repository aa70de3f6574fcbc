// Messages between ThreadedTrainLoader (main thread) and loader_worker.ts.
import type { CocoCategory, DataIssue } from './coco_types';
import type { TrainBatch, TrainLoaderOptions } from './train_loader';

export interface WorkerInit {
  annotationFile: string;
  imageDir: string;
  strict?: boolean;
  loader: Omit<TrainLoaderOptions, 'onBadImage'>;
}

export interface LoaderInfo {
  images: number;
  trainImages: number;
  batchesPerEpoch: number;
  categories: CocoCategory[];
  labelToCategoryId: number[];
  /** Box problems found while loading. */
  issues: DataIssue[];
}

export type ToWorker = { type: 'epoch'; epoch: number; prefetch: number } | { type: 'credit'; count: number } | { type: 'abort' } | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; info: LoaderInfo }
  | { type: 'batch'; epoch: number; batch: TrainBatch }
  | { type: 'bad'; issue: DataIssue }
  | { type: 'end'; epoch: number; badImages: number }
  | { type: 'error'; message: string; coco?: { file: string; where: string; problem: string } };
