import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';

import { packageRoot } from '../../lib/native';

function cornernet(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(packageRoot, 'bin', 'cornernet.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('cornernet model', () => {
  it('prints the architecture and parameter count of hourglass104 by default', () => {
    const r = cornernet(['model']);
    assert.strictEqual(r.code, 0, r.err);
    assert.match(r.out, /HourglassNet \(2 stacks, 5 halvings, channels 256\/256\/384\/384\/384\/512/);
    assert.match(r.out, /backbone\.hourglass_modules\.0\s+225\s+92,134,400/);
    assert.match(r.out, /trainable parameters: 201,035,212/);
    assert.match(r.out, /state_dict entries: 1128 \(588 parameters; 125,876 BN buffer elements\)/);
  });

  it('--keys lists every state_dict key with its shape in order', () => {
    const r = cornernet(['model', '--config', 'shapes-tiny', '--keys']);
    assert.strictEqual(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.strictEqual(lines.length, 288);
    assert.match(lines[0]!, /^backbone\.stem\.0\.conv\.weight\s+\[16, 3, 7, 7\]$/);
    assert.match(lines[5]!, /^backbone\.stem\.0\.bn\.num_batches_tracked\s+\[\] int64$/);
    assert.match(lines[287]!, /^bbox_head\.br_emb\.0\.1\.conv\.bias\s+\[1\]$/);
    const json = JSON.parse(cornernet(['model', '--config', 'shapes-tiny', '--keys', '--json']).out) as { name: string }[];
    assert.deepStrictEqual(json.map((k) => k.name), lines.map((l) => l.split(/\s+/)[0]));
  });

  it('reports a bad config with exit code 1 and the key at fault', () => {
    const r = cornernet(['model', '--config', 'hourglass9000']);
    assert.strictEqual(r.code, 1);
    assert.match(r.err, /cornernet: model config 'hourglass9000' is neither a preset/);
  });
});
