import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { readNpy } from '../../lib/io/npy';
import { packageRoot } from '../../lib/native';
import { parityDir } from '../helpers/parity_dir';

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

  it("--weights --input --dump: runs the checkpoint's model (config from its metadata) and writes every head output", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-model-dump-'));
    try {
      const r = cornernet(['model', '--weights', path.join(parityDir, 'weights.safetensors'), '--input', path.join(parityDir, 'input.npy'), '--dump', dir]);
      assert.strictEqual(r.code, 0, r.err);
      assert.match(r.out, /^loaded 540 entries from /);
      assert.match(r.out, /stack 1 br_off +\[1, 2, 16, 16\]/);
      assert.strictEqual(fs.readdirSync(dir).length, 12);
      for (const name of ['tl_heat_l0', 'br_emb_l1', 'tl_off_l1']) {
        const got = readNpy(path.join(dir, `${name}.npy`)), want = readNpy(path.join(parityDir, `${name}.npy`));
        assert.deepStrictEqual(got.shape, want.shape);
        want.data.forEach((v, i) => assert.ok(Math.abs(got.data[i]! - v) <= 1e-4 + 1e-4 * Math.abs(v), `${name}[${i}]`));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses --dump without --input, and weights that do not fit the config', () => {
    assert.match(cornernet(['model', '--dump', 'x']).err, /--dump needs --input/);
    const r = cornernet(['model', '--config', 'shapes-tiny', '--weights', path.join(parityDir, 'weights.safetensors')]);
    assert.strictEqual(r.code, 1);
    assert.match(r.err, /--weights .*weights\.safetensors does not fit --config shapes-tiny \(nothing was loaded\): \d+ entries missing/);
  });

  it('reports a bad config with exit code 1 and the key at fault', () => {
    const r = cornernet(['model', '--config', 'hourglass9000']);
    assert.strictEqual(r.code, 1);
    assert.match(r.err, /cornernet: model config 'hourglass9000' is neither a preset/);
  });
});
