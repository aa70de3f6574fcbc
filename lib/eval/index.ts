// COCO bbox evaluation: the public surface (re-exported from the package root as `cocoEval`).
export {
  evaluateCoco, evaluateCocoJson, evaluateImages, accumulate, summarize, perCategoryAp, STAT_NAMES,
  type ImageEvaluation, type Accumulation, type CategoryAp, type CocoEvalResult,
} from './coco_eval';
export {
  parseGroundTruth, parseDetections, readGroundTruth, readDetections, CocoInputError,
  type CocoGroundTruthJson, type CocoDetectionJson, type CocoAnnotationJson, type CocoImageJson,
  type CocoCategoryJson, type CocoGroundTruth, type CocoDetections,
} from './coco_json';
export { IOU_THRESHOLDS, RECALL_THRESHOLDS, MAX_DETS, AREA_RANGES, type AreaRange } from './coco_params';
export { formatSummary, formatPerCategory } from './summary';
