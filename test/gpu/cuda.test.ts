// The CUDA backend plugin on this machine's GPUs: every CUDA op against the
// JavaScript reference on random inputs. Without a usable device the kernel
// suite is skipped, its title saying why (the plugin's probe), and asking for
// the 'cuda' backend must give a JavaScript Error naming the reason.
import { strict as assert } from 'assert';

import { native, type PluginInfo } from '../../lib/native';
import { type CornerPoolMode, pluginCornerPool } from '../native/cuda_check_tool';
import { cornerPoolBackwardRef, cornerPoolForwardRef } from '../native/cuda_corner_pool_reference';
import { mulberry32 } from '../../bench/rng';

const cuda: PluginInfo = native().info().cuda;
const usable = cuda.loaded && cuda.status === 'ok' && cuda.devices.length > 0;

function unusableReason(c: PluginInfo): string {
  return `${c.status}: ${c.message}`;
}

describe('CUDA backend selection', () => {
  it('the probe reports a known status and never crashes the process', () => {
    assert.ok(['ok', 'no-driver', 'no-device', 'error', 'not-built', 'load-failed'].includes(cuda.status), cuda.status);
    assert.ok(cuda.message.length > 0);
  });

  if (usable) {
    it("'cuda' opens device 0 and lists the ops with CUDA kernels", () => {
      const b = native().backendInfo('cuda');
      assert.equal(b.device, 'cuda:0');
      assert.ok(b.supports.includes('corner_pool_forward') && b.supports.includes('corner_pool_backward'));
    });
    it('a device index past the last device is a JavaScript Error', () => {
      assert.throws(() => native().backendInfo(`cuda:${cuda.devices.length}`), /out of range/);
    });
  } else {
    it(`asking for 'cuda' gives a JavaScript Error that names why (${cuda.status})`, () => {
      const reason: Record<string, RegExp> = {
        'no-driver': /no usable NVIDIA driver/,
        'no-device': /driver is present but reports no CUDA device/,
        'not-built': /has no CUDA plugin/,
        'load-failed': /the CUDA plugin did not load/,
        error: /CUDA is not usable/,
      };
      for (const spec of ['cuda', 'cuda:0', 'cuda:1']) {
        assert.throws(
          () => native().backendInfo(spec),
          (e: unknown) => e instanceof Error && reason[cuda.status]!.test(e.message) && e.message.includes(`'${spec}'`),
          spec
        );
      }
    });
  }
});

describe(`CUDA kernels on the GPU vs the JavaScript reference${usable ? '' : ` (skipped: ${unusableReason(cuda)})`}`, function () {
  before(function () {
    if (!usable) this.skip();
  });

  const modes: CornerPoolMode[] = ['top', 'bottom', 'left', 'right'];
  // Past 32-lane chunks and 256-thread blocks, plus CornerNet's own 128x128 maps.
  const shapes = [
    [2, 3, 7, 5],
    [1, 2, 33, 70],
    [3, 1, 40, 1],
    [2, 4, 17, 300],
    [2, 16, 128, 128],
  ];
  for (const mode of modes) {
    it(`corner pool ${mode}, forward and backward, on every device`, () => {
      const r = mulberry32(mode.length);
      for (const dev of cuda.devices) {
        for (const shape of shapes) {
          const n = shape.reduce((a, b) => a * b, 1);
          for (const ties of [true, false]) {
            const x = Float32Array.from({ length: n }, () => (ties ? Math.floor(r() * 4) : r() * 4 - 2));
            const gy = Float32Array.from({ length: n }, () => Math.floor(r() * 17 - 8) / 8);
            const what = `cuda:${dev.index} ${mode} [${shape.join(',')}] ${ties ? 'ties' : 'floats'}`;
            const y = pluginCornerPool(cuda.path, dev.index, mode, shape, x);
            assert.equal(y.device, `cuda:${dev.index}`);
            assert.deepEqual(y.out, cornerPoolForwardRef(x, shape, mode), `${what} y`);
            // gy in multiples of 1/8: exact whatever the summation order
            assert.deepEqual(pluginCornerPool(cuda.path, dev.index, mode, shape, x, gy).out, cornerPoolBackwardRef(x, gy, shape, mode), `${what} gradX`);
          }
        }
      }
    });
  }
});
