import { strict as assert } from 'assert';

import { applyOverrides, mergeConfig } from '../../lib/train/overrides';

describe('train/overrides', () => {
  it('sets nested values, parsing JSON where it is JSON', () => {
    const c = applyOverrides({ train: { batchSize: 6 }, data: {} }, [
      'train.batchSize=4',
      'data.root=/data/coco',
      'train.flip=true',
      'schedule.steps=[180,200]',
    ]);
    assert.deepEqual(c, { train: { batchSize: 4, flip: true }, data: { root: '/data/coco' }, schedule: { steps: [180, 200] } });
  });

  it('does not modify its input', () => {
    const base = { a: { b: 1 } };
    applyOverrides(base, ['a.b=2']);
    assert.equal(base.a.b, 1);
  });

  it('names the key at fault', () => {
    assert.throws(() => applyOverrides({}, ['nokey']), /--set "nokey": expected key=value/);
    assert.throws(() => applyOverrides({ a: 3 }, ['a.b=1']), /--set a\.b: 'a' is 3, not a section/);
    assert.throws(() => applyOverrides({}, ['a..b=1']), /not a valid key path/);
    assert.throws(() => applyOverrides({}, ['__proto__.x=1']), /not a valid key path/);
  });

  it('merges layers deeply, replacing arrays', () => {
    assert.deepEqual(mergeConfig({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 }), { a: { b: 1, c: [3] }, d: 1, e: 2 });
  });
});
