// Ground truth restricted to some images: evaluating on the first N images of a
// split must not count the others' objects as missed.
import { readJsonFile } from '../io/json_file';
import { parseGroundTruth, type CocoGroundTruth, type CocoGroundTruthJson } from './coco_json';

export function groundTruthSubset(json: CocoGroundTruthJson, imageIds: Set<number>, source: string): CocoGroundTruth {
  return parseGroundTruth(
    { ...json, images: json.images.filter((im) => imageIds.has(im.id)), annotations: json.annotations.filter((a) => imageIds.has(a.image_id)) },
    source,
  );
}

export function readGroundTruthSubset(file: string, imageIds: Set<number>): CocoGroundTruth {
  return groundTruthSubset(readJsonFile(file) as CocoGroundTruthJson, imageIds, file);
}
