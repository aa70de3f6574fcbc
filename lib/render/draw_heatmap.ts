// A corner heat map drawn over its image, for looking at what a model sees
// (`cornernet detect --heatmaps DIR`). The map covers the padded network input
// at the output resolution; sharp scales it to the padded input, cuts out the
// image's window (TestMeta.border) and composites it, so no pixel code is written here.
import sharp from 'sharp';

import type { TestMeta } from '../data/transforms';
import type { TensorData } from '../native';

/** Colour of the overlay, [r, g, b] 0..255; its opacity is the map's value (0..1) times `opacity`. */
export interface HeatmapStyle {
  colour: [number, number, number];
  /** Opacity of a value of 1 (default 0.85). */
  opacity?: number;
}

/**
 * PNG bytes of `image` (a path or encoded bytes) with `heat` ([h, w] values in
 * [0, 1] over the padded input `meta` describes) drawn over it.
 */
export async function drawHeatmap(image: string | Buffer, heat: TensorData, meta: TestMeta, style: HeatmapStyle): Promise<Buffer> {
  const [h, w] = heat.shape as [number, number];
  const [ph, pw] = meta.padShape;
  const [imgH, imgW] = meta.imgShape;
  const [top, bottom, left, right] = meta.border;
  const alpha = 255 * (style.opacity ?? 0.85);
  const rgba = Buffer.alloc(h * w * 4);
  for (let i = 0; i < h * w; i++) {
    rgba[4 * i] = style.colour[0];
    rgba[4 * i + 1] = style.colour[1];
    rgba[4 * i + 2] = style.colour[2];
    rgba[4 * i + 3] = Math.round(alpha * Math.min(1, Math.max(0, heat.data[i]!)));
  }
  // Bilinear: no ringing around a peak (lanczos, sharp's default, draws halos).
  const window = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
    .resize(pw, ph, { fit: 'fill', kernel: 'linear' })
    .extract({ left, top, width: right - left, height: bottom - top })
    .png()
    .toBuffer();
  // The window is the image's size, except where the reference's pad drops a last row or column.
  const overlay = right - left === imgW && bottom - top === imgH ? window : await sharp(window).resize(imgW, imgH, { fit: 'fill', kernel: 'linear' }).png().toBuffer();
  return sharp(image).removeAlpha().composite([{ input: overlay, top: 0, left: 0 }]).png().toBuffer();
}
