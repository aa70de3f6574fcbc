// Data and JSON input the loaders must refuse or accept with a useful message
// (issue 14): a byte-order mark, deep nesting, an image too large to transform.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { loadModelConfig } from '../../lib/configs';
import { loadCoco } from '../../lib/data/coco_loader';
import { imageTransform, MAX_IMAGE_PIXELS } from '../../lib/data/pixel_ops';
import { readGroundTruth } from '../../lib/eval/coco_json';
import { readJsonFile, shortJson } from '../../lib/io/json_file';
import { resolveConfig } from '../../lib/train/resolve_config';
import { baseCocoJson } from './coco_fixture';

describe('bad data input', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-bad-data-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it('a UTF-8 byte-order mark is accepted by every JSON reader (annotations, results, configs)', async () => {
    const ann = file('bom_instances.json', `\ufeff${JSON.stringify(baseCocoJson())}`);
    assert.ok((await loadCoco(ann, { imageDir: dir })).images.length > 0);
    assert.ok(readGroundTruth(ann).imageIds.length > 0);
    assert.deepStrictEqual(readJsonFile(file('bom.json', '\ufeff{"a": 1}')), { a: 1 });
    const cfg = file('bom_config.json', '\ufeff{"extends": "shapes-tiny", "train": {"epochs": 3}}');
    assert.strictEqual(resolveConfig(cfg).train.epochs, 3);
    assert.strictEqual(loadModelConfig(file('bom_model.json', `\ufeff${JSON.stringify({ model: resolveConfig('shapes-tiny').model })}`)).numStacks, resolveConfig('shapes-tiny').model.numStacks);
  });

  it('deeply nested JSON names the file and the path, in every reader', async () => {
    const deep = '['.repeat(50000) + ']'.repeat(50000);
    const j = JSON.stringify(baseCocoJson()).replace('"annotations":[{', `"annotations":[{"extra":${deep},`);
    const ann = file('deep_instances.json', j);
    await assert.rejects(loadCoco(ann, { imageDir: dir }), /deep_instances\.json: annotations\[0\]\.extra: nested deeper than 256 levels/);
    assert.throws(() => readGroundTruth(ann), /deep_instances\.json: annotations\[0\]\.extra\[0\]\[0\]\[0\].*: nested deeper than 256 levels/);
    const cfg = file('deep_config.json', `{"extends": "shapes-tiny", "name": ${deep}}`);
    assert.throws(() => resolveConfig(cfg), /--config .*deep_config\.json: name\[0\]\[0\].*nested deeper than 256 levels/);
    assert.throws(() => resolveConfig('shapes-tiny', { set: [`name=${deep}`] }), /--set name: the value at \[0\]\[0\].* is nested deeper than 256 levels/);
    // A deep value built in memory (the JS API) is described without overflowing the stack.
    let v: unknown = 1;
    for (let i = 0; i < 100000; i++) v = [v];
    assert.strictEqual(shortJson(v), 'an array of 1');
  });

  it('imageTransform refuses an image, canvas or output past the limit, with its size, before allocating', () => {
    const mean = { data: new Float32Array(3), shape: [3] }, std = { data: new Float32Array([1, 1, 1]), shape: [3] };
    const args = { image: { data: new Float32Array(12), shape: [2, 2, 3] }, windowX: 0, windowY: 0, windowWidth: 2, windowHeight: 2, pasteX: 0, pasteY: 0, flip: false, mean, std, photometric: false };
    assert.throws(() => imageTransform({ ...args, canvas: [12031, 12031], size: [64, 64] }),
      new RegExp(`argument 'canvas' is too large: 12031x12031 \\(144744961 pixels\\), more than the limit of ${MAX_IMAGE_PIXELS} \\(8192x8192\\)`));
    assert.throws(() => imageTransform({ ...args, canvas: [64, 64], size: [9000, 9000] }), /argument 'size' is too large: 9000x9000/);
    assert.deepStrictEqual(imageTransform({ ...args, canvas: [4, 4], size: [4, 4] }).shape, [3, 4, 4]);
  });
});
