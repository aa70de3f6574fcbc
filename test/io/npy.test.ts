import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { readNpy, writeNpy } from '../../lib/io/npy';
import { parityDir } from '../helpers/parity_dir';

describe('io/npy', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-npy-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('round-trips float32 tensors of any rank, header padded to 64 bytes', () => {
    for (const shape of [[2, 3, 4, 5], [7], [], [1, 0, 3]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const t = { data: Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3), shape };
      const f = path.join(dir, `t${shape.length}.npy`);
      writeNpy(f, t);
      const header = fs.readFileSync(f).readUInt16LE(8);
      assert.strictEqual((10 + header) % 64, 0);
      assert.deepStrictEqual(readNpy(f), t);
    }
  });

  it('reads the reference fixtures (written by NumPy)', () => {
    const x = readNpy(path.join(parityDir, 'input.npy'));
    assert.deepStrictEqual(x.shape, [1, 3, 64, 64]);
  });

  it('names what is wrong with a file it cannot read', () => {
    const f = path.join(dir, 'bad.npy');
    fs.writeFileSync(f, 'hello world');
    assert.throws(() => readNpy(f), /not a NumPy \.npy file/);
    writeNpy(f, { data: new Float32Array(4), shape: [4] });
    const b = fs.readFileSync(f);
    b.write("<f8", b.indexOf("<f4"), 'latin1');
    fs.writeFileSync(f, b);
    assert.throws(() => readNpy(f), /dtype '<f8' is not supported; expected '<f4'/);
    writeNpy(f, { data: new Float32Array(4), shape: [4] });
    fs.writeFileSync(f, fs.readFileSync(f).subarray(0, -4));
    assert.throws(() => readNpy(f), /shape \[4\] needs 16 data bytes, the file has 12/);
  });
});
