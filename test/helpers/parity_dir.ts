// Where the model-parity fixtures live: CORNERNET_PARITY_FIXTURES when set (a
// fresher copy of ../shared/fixtures/model-parity), else the copy in test/fixtures.
import * as path from 'path';
import { packageRoot } from '../../lib/native';

export const parityDir: string =
  process.env.CORNERNET_PARITY_FIXTURES ?? path.join(packageRoot, 'test', 'fixtures', 'model-parity');

export const opsFixtureDir: string = path.join(packageRoot, 'test', 'fixtures', 'ops');
