// The package as a user meets it: require, import, and the CLI binaries.
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as path from 'path';

import { packageRoot } from '../../lib/native';

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: packageRoot, encoding: 'utf8' });
}

describe('package entry points', () => {
  it("require('cornernet-native') gives the typed API", () => {
    const out = node(['-e', "const c = require('cornernet-native'); console.log(JSON.stringify([typeof c.info, typeof c.ops.cornerPoolForward, c.version]))"]);
    const [info, op, version] = JSON.parse(out) as [string, string, string];
    assert.equal(info, 'function');
    assert.equal(op, 'function');
    assert.match(version, /^\d+\.\d+\.\d+/);
  });

  it("import ... from 'cornernet-native' works from an ES module", () => {
    const out = node([
      '--input-type=module',
      '-e',
      "import cn, { info, ops, loadDetector, train, Detector } from 'cornernet-native'; " +
        'console.log(JSON.stringify([typeof info, typeof ops.tensor, cn.version, typeof loadDetector, typeof train, typeof Detector.prototype[Symbol.asyncDispose]]))',
    ]);
    const [info, tensor, version, loadDetector, train, asyncDispose] = JSON.parse(out) as string[];
    assert.equal(info, 'function');
    assert.equal(tensor, 'function');
    assert.match(version!, /^\d+\.\d+\.\d+/);
    assert.deepEqual([loadDetector, train, asyncDispose], ['function', 'function', 'function']);
  });

  it('cornernet --version prints the package version', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require(path.join(packageRoot, 'package.json')) as { version: string };
    assert.equal(node([path.join('bin', 'cornernet.js'), '--version']).trim(), pkg.version);
  });

  it('cornernet info reports backend, CPU features, threads and CUDA status', () => {
    const out = node([path.join('bin', 'cornernet.js'), 'info']);
    assert.match(out, /^backend: +(cpu|cuda:\d+)$/m);
    assert.match(out, /^cpu kernels: +(portable|avx2|avx512)/m);
    assert.match(out, /^threads: +\d+ \(spin \d+ us before sleeping\)$/m);
    assert.match(out, /^cuda: +\S/m);
    const json = JSON.parse(node([path.join('bin', 'cornernet.js'), 'info', '--json'])) as { threads: number; cuda: { status: string } };
    assert.ok(json.threads >= 1);
    assert.ok(['ok', 'no-driver', 'no-device', 'error', 'not-built', 'load-failed'].includes(json.cuda.status));
  });

  it('CORNERNET_NUM_THREADS sizes the thread pool', () => {
    const out = execFileSync(process.execPath, [path.join('bin', 'cornernet.js'), 'info', '--json'], {
      cwd: packageRoot,
      encoding: 'utf8',
      env: { ...process.env, CORNERNET_NUM_THREADS: '3' },
    });
    assert.equal((JSON.parse(out) as { threads: number }).threads, 3);
  });

  it('an unknown command exits non-zero with a message', () => {
    assert.throws(
      () => execFileSync(process.execPath, [path.join('bin', 'cornernet.js'), 'frobnicate'], { cwd: packageRoot, stdio: 'pipe' }),
      (e: { status: number; stderr: Buffer }) => e.status !== 0 && /Unknown argument|frobnicate/.test(e.stderr.toString())
    );
  });
});
