// Every benchmark group, in the order `npm run bench` runs them. A new group is
// a file bench/<group>.ts exporting BenchGroup[] and one line here.
import { conv2dGroups } from './conv2d';
import type { BenchGroup } from './harness';
import { sgemmGroups } from './sgemm';

export const groups: BenchGroup[] = [...sgemmGroups, ...conv2dGroups];
