// The evaluator against the reference (pycocotools) numbers of every case folder in the cocoeval fixtures.
import { strict as assert } from 'assert';
import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';

import { evaluateCoco } from '../../lib/eval/coco_eval';
import { readDetections, readGroundTruth } from '../../lib/eval/coco_json';

const FIXTURES = process.env.CORNERNET_COCOEVAL_FIXTURES ?? join(__dirname, '..', '..', '..', 'test', 'fixtures', 'cocoeval');
/** The reference is float64 and so are we, summed in the same order: agreement is to the last bit or two. */
const TOL = 1e-12;

interface FlatArray {
  shape: number[];
  values: number[];
}

interface Expected {
  description: string;
  stats: number[];
  precision?: FlatArray;
  recall?: FlatArray;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    assert.ok(d <= TOL, `${what}[${i}]: got ${actual[i]}, reference ${expected[i]} (|diff| ${d})`);
  }
}

const cases = existsSync(FIXTURES)
  ? readdirSync(FIXTURES, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(FIXTURES, e.name, 'expected.json')))
    .map((e) => e.name)
    .sort()
  : [];

describe(`COCO bbox evaluation vs pycocotools fixtures (${FIXTURES})`, () => {
  it('finds the fixture cases', () => {
    assert.ok(cases.length > 0, `no case folder with expected.json under ${FIXTURES}`);
  });

  for (const name of cases) {
    it(name, () => {
      const dir = join(FIXTURES, name);
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
      const gt = readGroundTruth(join(dir, 'gt.json'));
      const dt = readDetections(join(dir, 'dt.json'), gt);
      const result = evaluateCoco(gt, dt);
      assertClose(result.stats, expected.stats, `${name} stats`);
      const { T, R, K, A, M } = result.accumulation.shape;
      if (expected.precision) {
        assert.deepEqual(expected.precision.shape, [T, R, K, A, M]);
        assertClose(result.accumulation.precision, expected.precision.values, `${name} precision`);
      }
      if (expected.recall) {
        assert.deepEqual(expected.recall.shape, [T, K, A, M]);
        assertClose(result.accumulation.recall, expected.recall.values, `${name} recall`);
      }
    });
  }

  it('case01 carries the full precision/recall arrays', function () {
    if (!cases.includes('case01')) this.skip();
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'case01', 'expected.json'), 'utf8')) as Expected;
    assert.ok(expected.precision && expected.recall, 'case01/expected.json lacks precision or recall');
  });
});
