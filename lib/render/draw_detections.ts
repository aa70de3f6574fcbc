// Draws detections (boxes, class names, scores) onto an image and writes a PNG.
// The overlay is an SVG composited by sharp (librsvg renders the text), so no
// pixel code is written here.
import sharp from 'sharp';

export interface DrawBox {
  /** [x1, y1, x2, y2] in image pixels. */
  box: [number, number, number, number];
  label: string;
  score?: number;
}

export interface DrawOptions {
  /** Line width in pixels (default: scales with the image, at least 1). */
  lineWidth?: number;
  /** Font size in pixels (default: scales with the image). */
  fontSize?: number;
}

// A fixed palette so a class keeps its colour across images of a report.
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#fabed4', '#469990', '#dcbeff', '#9a6324', '#800000', '#aaffc3', '#808000', '#000075'];

export function colourFor(label: string): string {
  let h = 0;
  for (let i = 0; i < label.length; i++) h = (Math.imul(h, 31) + label.charCodeAt(i)) >>> 0;
  return PALETTE[h % PALETTE.length]!;
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);

export function detectionsSvg(width: number, height: number, boxes: readonly DrawBox[], o: DrawOptions = {}): string {
  const lw = o.lineWidth ?? Math.max(1, Math.round(Math.min(width, height) / 200));
  const fs = o.fontSize ?? Math.max(8, Math.round(Math.min(width, height) / 40));
  const parts = boxes.map((d) => {
    const [x1, y1, x2, y2] = d.box;
    const c = colourFor(d.label);
    const text = escapeXml(d.score === undefined ? d.label : `${d.label} ${d.score.toFixed(2)}`);
    const ty = y1 - fs - 2 >= 0 ? y1 - fs - 2 : y1;
    const tw = Math.ceil(text.length * fs * 0.6) + 4;
    return (
      `<rect x="${x1}" y="${y1}" width="${Math.max(0, x2 - x1)}" height="${Math.max(0, y2 - y1)}" fill="none" stroke="${c}" stroke-width="${lw}"/>` +
      `<rect x="${x1}" y="${ty}" width="${tw}" height="${fs + 2}" fill="${c}"/>` +
      `<text x="${x1 + 2}" y="${ty + fs - 1}" font-family="sans-serif" font-size="${fs}" fill="#ffffff">${text}</text>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** Reads `input` (a path or encoded bytes), draws the boxes, returns PNG bytes. */
export async function drawDetections(input: string | Buffer, boxes: readonly DrawBox[], o: DrawOptions = {}): Promise<Buffer> {
  const img = sharp(input).removeAlpha();
  const meta = await img.metadata();
  if (!meta.width || !meta.height) throw new Error(`drawDetections: cannot read the size of ${typeof input === 'string' ? input : 'the image'}`);
  const svg = Buffer.from(detectionsSvg(meta.width, meta.height, boxes, o));
  return img.composite([{ input: svg, top: 0, left: 0 }]).png().toBuffer();
}
