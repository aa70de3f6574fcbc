// Finds the splits of a dataset folder laid out like MMDetection's data/coco:
//   DIR/annotations/instances_<split>.json  with its images in  DIR/<split>/
// The split whose name starts with "train" trains, the one starting with "val"
// evaluates. Explicit paths override what the folder says.
import * as fs from 'fs';
import * as path from 'path';

export interface SplitPaths {
  split: string;
  annotationFile: string;
  imageDir: string;
}

export interface DatasetPaths {
  train?: SplitPaths;
  val?: SplitPaths;
  /** Every split found, train and val included. */
  all: SplitPaths[];
}

export class DatasetLayoutError extends Error {
  override name = 'DatasetLayoutError';
}

export function discoverSplits(dir: string): DatasetPaths {
  const root = path.resolve(dir);
  if (!fs.existsSync(root)) throw new DatasetLayoutError(`--data ${dir}: no such folder`);
  const annDir = path.join(root, 'annotations');
  if (!fs.existsSync(annDir) || !fs.statSync(annDir).isDirectory())
    throw new DatasetLayoutError(`--data ${dir}: no annotations/ folder (expected annotations/instances_<split>.json and <split>/ images, as COCO)`);
  const all: SplitPaths[] = [];
  for (const f of fs.readdirSync(annDir).sort()) {
    const m = /^instances_(.+)\.json$/.exec(f);
    if (!m) continue;
    const split = m[1]!;
    const imageDir = path.join(root, split);
    if (!fs.existsSync(imageDir) || !fs.statSync(imageDir).isDirectory())
      throw new DatasetLayoutError(`--data ${dir}: annotations/${f} has no image folder ${split}/`);
    all.push({ split, annotationFile: path.join(annDir, f), imageDir });
  }
  if (all.length === 0) throw new DatasetLayoutError(`--data ${dir}: annotations/ holds no instances_<split>.json file`);
  const pick = (prefix: string): SplitPaths | undefined => {
    const found = all.filter((s) => s.split.startsWith(prefix));
    if (found.length > 1)
      throw new DatasetLayoutError(`--data ${dir}: several ${prefix}* splits (${found.map((s) => s.split).join(', ')}); name the annotation file explicitly`);
    return found[0];
  };
  const out: DatasetPaths = { all };
  const train = pick('train');
  const val = pick('val');
  if (train) out.train = train;
  if (val) out.val = val;
  return out;
}

export interface DatasetOverrides {
  data?: string;
  trainAnnotations?: string;
  trainImages?: string;
  valAnnotations?: string;
  valImages?: string;
}

/** Paths from --data, with explicit annotation/image paths taking precedence. */
export function resolveDataset(o: DatasetOverrides): DatasetPaths {
  const found: DatasetPaths = o.data ? discoverSplits(o.data) : { all: [] };
  const merge = (role: 'train' | 'val', ann?: string, img?: string): void => {
    const base = found[role];
    if (!ann && !img) return;
    const annotationFile = ann ? path.resolve(ann) : base?.annotationFile;
    if (!annotationFile) throw new DatasetLayoutError(`${role} images given (${img}) without a ${role} annotation file`);
    // Without an image folder, use <root>/<split> next to annotations/ as COCO does.
    const split = /instances_(.+)\.json$/.exec(path.basename(annotationFile))?.[1] ?? role;
    const imageDir = img ? path.resolve(img) : base?.imageDir ?? path.join(path.dirname(path.dirname(annotationFile)), split);
    found[role] = { split, annotationFile, imageDir };
  };
  merge('train', o.trainAnnotations, o.trainImages);
  merge('val', o.valAnnotations, o.valImages);
  return found;
}
