// Every benchmark group, in the order `npm run bench` runs them. A new group is
// a file bench/<group>.ts exporting BenchGroup[] and one line here. The slow
// ones (a minute or more each) come last; `--quick` leaves them out.
import { cocoEvalGroups } from './coco_eval';
import { conv2dGroups } from './conv2d';
import { convShapesGroups } from './conv_shapes';
import { cornerPoolGroups } from './corner_pool';
import { dataLoadGroups } from './data_load';
import { dataPipelineGroups } from './data_pipeline';
import { decodeGroups } from './decode';
import { distributedGroups } from './distributed';
import type { BenchGroup } from './harness';
import { modelGroups } from './model';
import { opsGroups } from './ops';
import { sgemmGroups } from './sgemm';
import { trainGroups } from './train';

export const groups: BenchGroup[] = [
  ...sgemmGroups,
  ...conv2dGroups,
  ...convShapesGroups,
  ...cornerPoolGroups,
  ...decodeGroups,
  ...cocoEvalGroups,
  ...dataPipelineGroups,
  ...dataLoadGroups,
  ...modelGroups,
  ...trainGroups,
  ...distributedGroups,
  // Opt-in: only with --only ops.
  ...opsGroups,
];
