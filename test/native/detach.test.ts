// JS may detach an ArrayBuffer (transfer it with postMessage or structuredClone)
// that a call was given. Async calls work on their own copies, so they neither
// crash nor read freed memory and give the result of the inputs as called
// (detach_child.ts, in a child process: a fault would kill it); inline calls
// read in place, so an argument getter that detaches an array read before it
// is an argument error, not a read of freed memory.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';

import { decode } from '../../lib/decode';
import { native } from '../../lib/native';
import { addForward } from '../../lib/ops';
import { CASES } from './detach_child';

const detach = (a: Float32Array) => void structuredClone(a.buffer, { transfer: [a.buffer] });

describe('detached input arrays', function () {
  this.timeout(60_000);

  for (const name of CASES) {
    it(`${name} reads what it was given`, () => {
      const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'detach_child.js'), name], { encoding: 'utf8', timeout: 50_000 });
      assert.equal(r.signal, null, `the child was killed by ${r.signal}\n${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '0\n', 'output values that differ from the inline call on a copy');
    });
  }

  it('an argument getter that detaches an array read before it is an argument error', () => {
    const a = { data: new Float32Array(8).fill(1), shape: [8] };
    const args = {
      a,
      get b() {
        detach(a.data);
        return { data: new Float32Array(8), shape: [8] };
      },
    };
    assert.throws(() => addForward(args), /ops\.addForward: argument 'a' \.data was detached or resized while the arguments were read \(8 elements before, 0 now\)/);
  });

  it('the same in decode and safetensorsWrite', () => {
    const t = (n: number, c = 1) => ({ data: new Float32Array(n * c), shape: [1, c, n, 1] });
    const heads = { tlHeat: t(4), brHeat: t(4), tlEmb: t(4), brEmb: t(4), tlOff: t(4, 2), brOff: t(4, 2) };
    const meta = { padShape: [4, 1], imgShape: [4, 1], border: [0, 4, 0, 1] };
    const args = {
      ...heads,
      k: 1,
      get meta() {
        detach(heads.brHeat.data);
        return meta;
      },
    };
    assert.throws(() => decode(args as never), /decode: argument 'brHeat' \.data was detached/);
    const first = new Float32Array(4);
    const entries = [
      { name: 'first', dtype: 'F32', shape: [4], data: first },
      {
        name: 'second',
        dtype: 'F32',
        shape: [4],
        get data() {
          detach(first);
          return new Float32Array(4);
        },
      },
    ];
    const write = (native().ops as unknown as { safetensorsWrite: (p: string, e: unknown[]) => void }).safetensorsWrite;
    assert.throws(() => write('/nonexistent-dir/x.safetensors', entries), /safetensorsWrite: tensor 'first': data was detached or resized while the arguments were read/);
  });
});
