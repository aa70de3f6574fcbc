// Weights of the original CornerNet (princeton-vl/CornerNet key names, BGR input
// normalised on [0, 1]) through lib/io/torch_import.ts: every key of
// HourglassNet-104 maps back from its original name, and converted weights on
// this package's RGB input with the recorded normalisation compute what the
// original weights compute on the original input.
import { strict as assert } from 'assert';
import * as path from 'path';

import { openModel } from '../../lib/eval/open_model';
import { importWeights } from '../../lib/io/import_weights';
import { detectScheme, importTorchCheckpoint, ORIGINAL_INPUT, originalToReference } from '../../lib/io/torch_import';
import { loadWeights } from '../../lib/io/weights';
import { Model, type StateDict } from '../../lib/model';
import { tmpDir } from '../data/coco_fixture';
import { assertClose } from '../helpers/assert_close';
import { stateDictPy, torchLegacy, writeFile } from '../helpers/torch_writer';

/** The reference's name -> the original's, stated from the original's module definitions (models/py_utils/kp.py, kp_utils.py). */
function referenceToOriginal(k: string): string {
  const skip = (p: string) => p.replace(/(^|\.)downsample\./g, '$1skip.');
  const rules: [RegExp, (m: RegExpMatchArray) => string][] = [
    [/^backbone\.stem\.0\.(.+)$/, (m) => `pre.0.${m[1]}`],
    [/^backbone\.stem\.1\.0\.(.+)$/, (m) => `pre.1.${skip(m[1]!)}`],
    [/^backbone\.hourglass_modules\.(\d+)\.(.+)$/, (m) => `kps.${m[1]}.${skip(m[2]!)}`],
    [/^backbone\.out_convs\.(\d+)\.(.+)$/, (m) => `cnvs.${m[1]}.${m[2]}`],
    [/^backbone\.conv1x1s\.(\d+)\.conv\.(.+)$/, (m) => `inters_.${m[1]}.0.${m[2]}`],
    [/^backbone\.conv1x1s\.(\d+)\.bn\.(.+)$/, (m) => `inters_.${m[1]}.1.${m[2]}`],
    [/^backbone\.remap_convs\.(\d+)\.conv\.(.+)$/, (m) => `cnvs_.${m[1]}.0.${m[2]}`],
    [/^backbone\.remap_convs\.(\d+)\.bn\.(.+)$/, (m) => `cnvs_.${m[1]}.1.${m[2]}`],
    [/^backbone\.inters\.(\d+)\.(.+)$/, (m) => `inters.${m[1]}.${skip(m[2]!)}`],
    [/^bbox_head\.(tl|br)_pool\.(\d+)\.direction([12])_conv\.(.+)$/, (m) => `${m[1]}_cnvs.${m[2]}.p${m[3]}_conv1.${m[4]}`],
    [/^bbox_head\.(tl|br)_pool\.(\d+)\.aftpool_conv\.conv\.(.+)$/, (m) => `${m[1]}_cnvs.${m[2]}.p_conv1.${m[3]}`],
    [/^bbox_head\.(tl|br)_pool\.(\d+)\.aftpool_conv\.bn\.(.+)$/, (m) => `${m[1]}_cnvs.${m[2]}.p_bn1.${m[3]}`],
    [/^bbox_head\.(tl|br)_pool\.(\d+)\.conv1\.conv\.(.+)$/, (m) => `${m[1]}_cnvs.${m[2]}.conv1.${m[3]}`],
    [/^bbox_head\.(tl|br)_pool\.(\d+)\.conv1\.bn\.(.+)$/, (m) => `${m[1]}_cnvs.${m[2]}.bn1.${m[3]}`],
    [/^bbox_head\.(tl|br)_pool\.(\d+)\.conv2\.(.+)$/, (m) => `${m[1]}_cnvs.${m[2]}.conv2.${m[3]}`],
    [/^bbox_head\.(tl|br)_(heat|emb|off)\.(\d+)\.0\.conv\.(.+)$/, (m) => `${m[1]}_${{ heat: 'heats', emb: 'tags', off: 'regrs' }[m[2]!]}.${m[3]}.0.conv.${m[4]}`],
    [/^bbox_head\.(tl|br)_(heat|emb|off)\.(\d+)\.1\.conv\.(.+)$/, (m) => `${m[1]}_${{ heat: 'heats', emb: 'tags', off: 'regrs' }[m[2]!]}.${m[3]}.1.${m[4]}`],
  ];
  for (const [re, to] of rules) {
    const m = k.match(re);
    if (m) return to(m);
  }
  throw new Error(`no original name for ${k}`);
}

/** Original weights of `model`: original names (DataParallel's module. prefix), the stem taking BGR. */
function originalStateDict(sd: StateDict): [string, StateDict[string]][] {
  return Object.entries(sd).map(([k, t]) => {
    if (k !== 'backbone.stem.0.conv.weight') return [`module.${referenceToOriginal(k)}`, t];
    const [o, c, kh, kw] = t.shape as [number, number, number, number];
    const bgr = new Float32Array(t.data.length);
    const src = t.data as Float32Array;
    for (let i = 0; i < o; i++) for (let j = 0; j < c; j++) bgr.set(src.subarray((i * c + j) * kh * kw, (i * c + j + 1) * kh * kw), (i * c + (2 - j)) * kh * kw);
    return [`module.${referenceToOriginal(k)}`, { data: bgr, shape: t.shape }];
  });
}

describe('io/torch_import: the original CornerNet\'s weights', () => {
  it('maps every HourglassNet-104 key back from its original name, one to one', () => {
    const keys = new Model('hourglass104').keys().map((k) => k.name);
    assert.equal(keys.length, 1128);
    const originals = keys.map(referenceToOriginal);
    assert.equal(new Set(originals).size, keys.length);
    assert.equal(detectScheme(originals), 'original');
    assert.equal(detectScheme(keys), 'mmdet');
    assert.deepEqual(originals.map(originalToReference), keys);
    assert.equal(originalToReference('tl_cnvs.0.pool1.weight'), null);
  });

  it('imports original weights (legacy format): names mapped, stem to RGB, the original normalisation recorded and used', async () => {
    const dir = tmpDir('orig');
    const model = new Model('shapes-tiny', { seed: 5 });
    const sd = model.stateDict();
    const orig = originalStateDict(sd);
    const { value, storages } = stateDictPy(orig);
    const file = writeFile(path.join(dir, 'CornerNet_500000.pkl'), torchLegacy(value, storages));
    const w = await importTorchCheckpoint(file);
    assert.equal(w.report.scheme, 'original');
    assert.equal(w.report.schemeFrom, 'keys');
    assert.equal(w.report.mapped, orig.length);
    assert.equal(w.report.prefixStripped, orig.length);
    assert.deepEqual(w.input, ORIGINAL_INPUT);
    for (const [k, t] of Object.entries(sd)) assert.deepEqual(Array.from(w.stateDict[k]!.data as Float32Array), Array.from(t.data as Float32Array), k);

    // With --from mmdet the names stay original, and the architecture check names them.
    await assert.rejects(importWeights({ checkpoint: file, out: path.join(dir, 'x.safetensors'), from: 'mmdet', config: 'shapes-tiny' }), /does not fit .*not in the model \(pre\.0\.conv\.weight/);

    const out = path.join(dir, 'orig.safetensors');
    await importWeights({ checkpoint: file, out, config: 'shapes-tiny' });
    const back = await loadWeights(out);
    assert.deepEqual(back.input, ORIGINAL_INPUT);
    const opened = await openModel({ weights: out });
    assert.deepEqual(opened.transform.mean, ORIGINAL_INPUT.mean);
    assert.deepEqual(opened.transform.std, ORIGINAL_INPUT.std);

    // The original network on its input (BGR, /255, COCO statistics) = the converted one on RGB with the recorded statistics.
    const h = 64, wd = 64;
    const rgb = Float32Array.from({ length: 3 * h * wd }, (_, i) => (i * 37) % 256);
    const bgrMean = [0.40789654, 0.44719302, 0.47026115], bgrStd = [0.28863828, 0.27408164, 0.27809835];
    const xOrig = new Float32Array(rgb.length), xOurs = new Float32Array(rgb.length);
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < h * wd; i++) {
        xOrig[c * h * wd + i] = (rgb[(2 - c) * h * wd + i]! / 255 - bgrMean[c]!) / bgrStd[c]!;
        xOurs[c * h * wd + i] = (rgb[c * h * wd + i]! - ORIGINAL_INPUT.mean[c]!) / ORIGINAL_INPUT.std[c]!;
      }
    const originalNet = new Model('shapes-tiny');
    originalNet.loadStateDict(Object.fromEntries(Object.keys(sd).map((k, i) => [k, orig[i]![1]])));
    const [a] = await originalNet.forward({ data: xOrig, shape: [1, 3, h, wd] });
    const [b] = await opened.model.forward({ data: xOurs, shape: [1, 3, h, wd] });
    assertClose('tlHeat', b!.tlHeat, a!.tlHeat, { rtol: 1e-4, atol: 1e-4 });
    assertClose('brOff', b!.brOff, a!.brOff, { rtol: 1e-4, atol: 1e-4 });
  });
});
