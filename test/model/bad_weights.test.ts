// Weights that do not fit the model (issue 14): the API's error lists the first
// few keys of each kind, not every key (over a thousand for HourglassNet-104);
// its `report` still holds them all.
import * as assert from 'assert';
import * as path from 'path';

import { loadWeights } from '../../lib/io/weights';
import { Model, type LoadReport } from '../../lib/model';
import { parityDir } from '../helpers/parity_dir';

describe('Model.loadStateDict: a mismatch over every key', () => {
  it('lists at most 8 keys of each kind in the message, all of them in .report', async () => {
    const w = await loadWeights(path.join(parityDir, 'weights.safetensors'));
    const m = new Model('hourglass104');
    assert.throws(
      () => m.loadStateDict(w.stateDict),
      (e: Error & { report?: LoadReport }) => {
        const lines = e.message.split('\n');
        assert.ok(lines.length <= 1 + 3 * 10, `${lines.length} lines`);
        assert.match(e.message, /missing \((\d+)\):(\n {4}\S+){8}\n {4}\.\.\. \d+ more \(see the error's report\)/);
        const missing = Number(/missing \((\d+)\)/.exec(e.message)![1]);
        assert.strictEqual(e.report!.missing.length, missing);
        assert.ok(missing > 100);
        return true;
      },
    );
  });
});
