import { strict as assert } from 'assert';
import sharp from 'sharp';

import { colourFor, detectionsSvg, drawDetections } from '../../lib/render/draw_detections';

describe('render/draw_detections', () => {
  it('draws each box outline in its class colour and keeps the image size', async () => {
    const grey = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
    const png = await drawDetections(grey, [{ box: [10, 20, 50, 40], label: 'square', score: 0.9 }], { lineWidth: 2, fontSize: 8 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 64);
    assert.equal(info.height, 48);
    const px = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    const hex = colourFor('square');
    const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    // On the left edge (mid-height), inside the box, outside the box.
    assert.deepEqual(px(10, 30), want);
    assert.deepEqual(px(30, 30), [128, 128, 128]);
    assert.deepEqual(px(60, 5), [128, 128, 128]);
  });

  it('escapes labels in the SVG', () => {
    assert.match(detectionsSvg(10, 10, [{ box: [0, 0, 5, 5], label: '<a&b>' }]), /&lt;a&amp;b&gt;/);
  });
});
