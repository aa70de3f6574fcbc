// The test helpers themselves: .npy round trips and refusals, fixture
// discovery, and a gradient check that does catch a wrong gradient.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { discoverCases, loadTensor, toleranceFor } from './fixtures';
import { gradcheck } from './gradcheck';
import { formatNpy, parseNpy, readNpy, writeNpy } from './npy';

describe('test helpers', () => {
  describe('npy', () => {
    it('round-trips float32 arrays of any rank, 0-d included', () => {
      for (const shape of [[], [3], [2, 3], [1, 2, 3, 4], [0, 5]]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const t = { data: Float32Array.from({ length: n }, (_, i) => i * 0.5 - 1), shape };
        const bytes = formatNpy(t);
        assert.strictEqual((bytes.readUInt16LE(8) + 10) % 64, 0, 'data starts on a 64-byte boundary');
        const back = parseNpy(bytes);
        assert.deepStrictEqual(back.shape, shape);
        assert.deepStrictEqual(Array.from(back.data), Array.from(t.data));
      }
    });

    it('reads the fixtures numpy wrote', () => {
      const c = discoverCases().find((x) => x.name === 'upsample2x_1x2x4x6');
      assert.ok(c, 'upsample2x_1x2x4x6 fixture missing');
      const x = readNpy(path.join(c.dir, 'x.npy'));
      assert.deepStrictEqual(x.shape, [1, 2, 4, 6]);
      const scalar = discoverCases().find((x) => x.manifest.op === 'gaussian_focal_loss');
      if (scalar) assert.deepStrictEqual(loadTensor(scalar, 'outputs', 'loss').shape, []);
    });

    it('refuses other versions, dtypes, Fortran order and truncated data, naming the file', () => {
      const good = formatNpy({ data: new Float32Array([1, 2]), shape: [2] });
      const v2 = Buffer.from(good);
      v2[6] = 2;
      assert.throws(() => parseNpy(v2, 'a.npy'), /npy: a\.npy: format version 2\.0 is not supported/);
      const f8 = Buffer.from(good.toString('latin1').replace("'<f4'", "'<f8'"), 'latin1');
      assert.throws(() => parseNpy(f8, 'b.npy'), /b\.npy: dtype '<f8' is not supported; expected '<f4'/);
      const big = Buffer.from(good.toString('latin1').replace("'<f4'", "'>f4'"), 'latin1');
      assert.throws(() => parseNpy(big, 'c.npy'), /dtype '>f4'/);
      const fortran = Buffer.from(good.toString('latin1').replace('False', 'True '), 'latin1');
      assert.throws(() => parseNpy(fortran, 'd.npy'), /Fortran-order/);
      assert.throws(() => parseNpy(good.subarray(0, good.length - 1), 'e.npy'), /needs 8 data bytes, the file has 7/);
      assert.throws(() => parseNpy(Buffer.from('not numpy at all'), 'f.npy'), /f\.npy: not a NumPy \.npy file/);
    });

    it('writes files readNpy reads back', () => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cn-npy-')), 't.npy');
      writeNpy(file, { data: Float32Array.from([3.25, -1]), shape: [1, 2] });
      assert.deepStrictEqual(Array.from(readNpy(file).data), [3.25, -1]);
      fs.rmSync(path.dirname(file), { recursive: true });
    });
  });

  describe('fixtures', () => {
    it('discovers nested case folders and ignores folders without a manifest', () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-fix-'));
      const mk = (rel: string, manifest?: object) => {
        fs.mkdirSync(path.join(root, rel), { recursive: true });
        if (manifest) fs.writeFileSync(path.join(root, rel, 'manifest.json'), JSON.stringify(manifest));
      };
      const m = { op: 'upsample_nearest2x', inputs: {}, outputs: {}, suggested_tolerance: { all: { rtol: 0, atol: 1 } } };
      mk('b_case', m);
      mk('group/a_case', m);
      mk('empty');
      const cases = discoverCases(root);
      assert.deepStrictEqual(cases.map((c) => c.name), ['b_case', path.join('group', 'a_case')]);
      assert.deepStrictEqual(toleranceFor(cases[0]!, 'y'), { rtol: 0, atol: 1 });
      mk('bad', { inputs: {}, outputs: {} });
      assert.throws(() => discoverCases(root), /bad[/\\]manifest\.json: field 'op' must be an op name/);
      fs.rmSync(root, { recursive: true });
    });
  });

  describe('gradcheck', () => {
    // f(x) = sum(x^2 * g): gradient 2 x g.
    const x = { data: Float32Array.from([0.5, -1.25, 2]), shape: [3] };
    const g = [0.3, -0.7, 1.1];
    const loss = (i: Record<string, { data: Float32Array }>) => i.x!.data.reduce((s, v, k) => s + v * v * g[k]!, 0);
    const tol = { rtol: 1e-3, atol: 1e-4 };

    it('passes a correct gradient', () => {
      const analytic = { x: { data: Float32Array.from(x.data.map((v, k) => 2 * v * g[k]!)), shape: [3] } };
      gradcheck({ inputs: { x }, wrt: ['x'], loss, analytic, h: 1e-2, tolerance: tol }, 'square');
    });

    it('fails a wrong one, saying where', () => {
      const analytic = { x: { data: Float32Array.from(x.data.map((v, k) => (k === 1 ? 1.01 : 1) * 2 * v * g[k]!)), shape: [3] } };
      assert.throws(
        () => gradcheck({ inputs: { x }, wrt: ['x'], loss, analytic, h: 1e-2, tolerance: tol }, 'square'),
        /square: 1 gradient values off .* x\[1\]/
      );
      assert.deepStrictEqual(Array.from(x.data), [0.5, -1.25, 2], 'inputs restored after perturbation');
    });
  });
});
