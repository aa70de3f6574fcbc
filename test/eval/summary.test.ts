import { strict as assert } from 'assert';

import { formatFixed } from '../../lib/eval/fixed_format';
import { numpySum, meanOfPresent } from '../../lib/eval/pairwise_sum';
import { formatPerCategory, formatSummary } from '../../lib/eval/summary';

describe('COCO summary text', () => {
  it('prints the 12 lines the way pycocotools does', () => {
    const stats = [0.6137456839171312, 0.8465277199988905, 0.7090856144437973, 0.6529125412541253, 0.5358132956152758,
      -1, 0.5138888888888888, 0.6944444444444444, 0.6944444444444444, 0.6857142857142857, 0.0625, 1];
    assert.equal(formatSummary(stats), [
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.614',
      ' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.847',
      ' Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.709',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.653',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.536',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.514',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.694',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.694',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 0.686',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.062',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 1.000',
    ].join('\n'));
  });

  it('refuses a stats list of the wrong length', () => {
    assert.throws(() => formatSummary([1, 2, 3]), /expected 12 stats, got 3/);
  });

  it('prints a per-category table', () => {
    const t = formatPerCategory([{ id: 1, name: 'person', ap: 0.5625 }, { id: 90, name: 'toothbrush', ap: -1 }]);
    assert.equal(t, [
      ' id  name        AP@[ IoU=0.50:0.95 | area=all | maxDets=100 ]',
      '  1  person       0.562',
      ' 90  toothbrush  -1.000',
    ].join('\n'));
  });

  it('rounds like Python: exact binary ties to even, everything else to nearest', () => {
    const cases: [number, number, string][] = [
      [0.0625, 3, '0.062'], [0.1875, 3, '0.188'], [-0.0625, 3, '-0.062'], [0.5625, 3, '0.562'],
      [0.0005, 3, '0.001'], [0.0015, 3, '0.002'], [0.125, 2, '0.12'], [0.375, 2, '0.38'],
      [0.8999999999999999, 2, '0.90'], [-1, 3, '-1.000'], [0, 3, '0.000'], [2.5, 0, '2'], [3.5, 0, '4'],
    ];
    for (const [x, d, s] of cases) assert.equal(formatFixed(x, d), s, `${x} to ${d}`);
  });
});

describe('numpy-order mean', () => {
  it('sums pairwise as numpy does (differs from a left-to-right sum)', () => {
    const a = Float64Array.from({ length: 1000 }, (_, i) => 1 / (i + 1));
    // np.add.reduce of this array; a plain loop gives 7.485470860550343.
    assert.equal(numpySum(a), 7.485470860550345);
    let naive = 0;
    for (const v of a) naive += v;
    assert.notEqual(naive, numpySum(a));
  });

  it('averages only entries > -1, and is -1 when there are none', () => {
    assert.equal(meanOfPresent(Float64Array.from([-1, 0.5, -1, 1])), 0.75);
    assert.equal(meanOfPresent(Float64Array.from([-1, -1])), -1);
  });
});
