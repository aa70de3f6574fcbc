// What the loader keeps of a COCO instances file. Annotations are stored as
// columns (typed arrays) rather than one object each: train2017 has 860k of
// them, and as objects they alone would cost several hundred MB. Segmentation
// is not kept (CornerNet trains and evaluates boxes only); its kind is counted.

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
}

export interface CocoImage {
  id: number;
  fileName: string;
  width: number;
  height: number;
}

/** Why an annotation is kept out of training targets (it is still kept for evaluation unless invalid). */
export const enum AnnFlag {
  /** iscrowd = 1: mmdet puts these in gt_bboxes_ignore, which CornerHead ignores. */
  Crowd = 1,
  /** Box with non-positive size or no overlap with the image: reported, never trained on. */
  Invalid = 2,
  /** Box under 1 px wide or high, or area <= 0: mmdet's CocoDataset drops these from training. */
  Tiny = 4,
}

export interface CocoAnnotations {
  count: number;
  /** Annotation ids (Float64: COCO crowd ids exceed 2^31). */
  id: Float64Array;
  /** Index into `images` (not the image id). */
  imageIndex: Int32Array;
  /** Contiguous label 0..C-1 (see labelToCategoryId). */
  label: Int32Array;
  /** [x, y, w, h] per annotation, as in the file (clipped to the image when it spilled over). */
  bbox: Float32Array;
  area: Float32Array;
  iscrowd: Uint8Array;
  flags: Uint8Array;
  /** CSR index: the annotations of image i are order[start[i] .. start[i+1]). */
  imageStart: Int32Array;
  order: Int32Array;
}

/** A problem that does not stop loading: the annotation or image is reported, counted and skipped. */
export interface DataIssue {
  file: string;
  /** e.g. "annotations[17].bbox" */
  where: string;
  message: string;
}

export interface SegmentationCounts {
  polygon: number;
  rle: number;
  none: number;
}

export interface CocoDataset {
  annotationFile: string;
  imageDir: string;
  info: unknown;
  licenses: number;
  images: CocoImage[];
  categories: CocoCategory[];
  /** category id -> contiguous label, in ascending id order (COCO's 80 ids map to 0..79 as in mmdet). */
  categoryIdToLabel: Map<number, number>;
  labelToCategoryId: number[];
  annotations: CocoAnnotations;
  segmentation: SegmentationCounts;
  /** Box problems found while loading (each annotation also carries AnnFlag.Invalid). */
  issues: DataIssue[];
}

/** One image's boxes for training: x1, y1, x2, y2 (image pixels) and labels. Crowd, invalid and tiny boxes are excluded. */
export interface TrainTargets {
  boxes: Float32Array;
  labels: Int32Array;
}
