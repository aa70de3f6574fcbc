// drawHeatmap: a map over the padded network input lands on the image pixels
// it covers (the centre pad's border taken off), and nowhere else.
import { strict as assert } from 'assert';

import sharp from 'sharp';

import { planTest, REFERENCE_TEST } from '../../lib/data/transforms';
import { drawHeatmap } from '../../lib/render/draw_heatmap';

describe('render/draw_heatmap', () => {
  it('draws one hot output cell over the image pixels under it', async () => {
    // 40 x 30 grey image, centred in a 127 x 127 input: left border 43, top border 48.
    const [w, h] = [40, 30];
    const image = await sharp({ create: { width: w, height: h, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
    const norm = { mean: { data: new Float32Array(3), shape: [3] }, std: { data: new Float32Array(3).fill(1), shape: [3] } };
    const { meta } = planTest(w, h, false, REFERENCE_TEST, norm);
    assert.deepEqual(meta.border, [48, 78, 43, 83]);
    // Output cell (16, 16) of the 32 x 32 map covers input pixels ~63.5..67.5 on both axes,
    // that is image x 20.5..24.5 and y 15.5..19.5.
    const heat = new Float32Array(32 * 32);
    heat[16 * 32 + 16] = 1;
    const png = await drawHeatmap(image, { data: heat, shape: [32, 32] }, meta, { colour: [255, 0, 0], opacity: 1 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [w, h, 3]);
    const at = (x: number, y: number) => [...data.subarray(3 * (y * w + x), 3 * (y * w + x) + 3)];
    const [r, g] = at(22, 17);
    assert.ok(r! > 200 && g! < 60, `the hot cell is not drawn at (22, 17): ${at(22, 17)}`);
    for (const [x, y] of [[2, 2], [37, 27], [22, 5], [5, 17], [30, 17], [22, 26]]) assert.deepEqual(at(x!, y!), [128, 128, 128], `(${x}, ${y}) was drawn on`);
  });
});
