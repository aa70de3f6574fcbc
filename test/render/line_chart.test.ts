import { strict as assert } from 'assert';

import { lineChartSvg } from '../../lib/render/line_chart';

describe('render/line_chart', () => {
  it('draws one polyline per series with a legend, mapping data into the plot area', () => {
    const svg = lineChartSvg(
      [
        { name: 'det', points: [[0, 10], [10, 1]] },
        { name: 'pull', points: [[0, 0.5], [10, 0.1]] },
      ],
      { title: 'loss', xLabel: 'iteration', logY: true, width: 400, height: 200 },
    );
    const lines = svg.match(/<polyline[^>]*points="([^"]*)"/g) ?? [];
    assert.equal(lines.length, 2);
    assert.match(svg, />det</);
    assert.match(svg, />pull</);
    // x=0 maps to the left margin (60); the largest y to the top margin (28).
    assert.match(lines[0]!, /points="60\.0,28\.0 /);
  });

  it('says so when there is nothing to plot', () => {
    assert.match(lineChartSvg([{ name: 'ap', points: [] }], { title: 'AP', xLabel: 'epoch' }), /no data/);
  });
});
