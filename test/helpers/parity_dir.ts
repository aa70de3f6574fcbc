// Where the model-parity fixtures live: CORNERNET_PARITY_FIXTURES when set (a
// fresher copy of ../shared/fixtures/model-parity), else the copy in test/fixtures.
import * as path from 'path';
import { packageRoot } from '../../lib/native';

export const parityDir: string =
  process.env.CORNERNET_PARITY_FIXTURES ?? path.join(packageRoot, 'test', 'fixtures', 'model-parity');

// CORNERNET_OPS_FIXTURES, as every ops-fixture test honours it.
export const opsFixtureDir: string = process.env.CORNERNET_OPS_FIXTURES ?? path.join(packageRoot, 'test', 'fixtures', 'ops');
