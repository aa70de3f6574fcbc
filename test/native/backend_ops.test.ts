// test-backend-ops (test/native/backend_ops/), the native program that runs
// every engine op on every backend against the CPU without Node.js (what
// scripts/gpu-check.sh runs on a GPU machine), here on the CUDA emulator: the
// program itself is tested, and its own coverage rule (an engine op without a
// case fails) holds in CI.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../lib/native';
import { availableBackends } from '../../lib/ops';

const program = path.join(packageRoot, 'build', 'cmake', 'Release', 'test-backend-ops');

describe('native/test-backend-ops', () => {
  const why = !fs.existsSync(program)
    ? `not built here (${program}; installed from a prebuilt binary?)`
    : !availableBackends().includes('cuda-emu')
      ? 'the cuda-emu plugin is not available'
      : '';
  if (why) {
    it(`skipped: ${why}`);
    return;
  }
  it('test mode: every op on cuda-emu agrees with the cpu, and every engine op has a case', () => {
    const r = spawnSync(program, ['test', '-b', 'cuda-emu'], { encoding: 'utf8', timeout: 110_000 });
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, `test-backend-ops failed:\n${out.split('\n').filter((l) => !l.startsWith('ok')).join('\n')}`);
    assert.match(out, /ops: \d+ passed, 0 failed/);
    assert.doesNotMatch(out, /has no test case/);
    assert.match(out, /all agree with the cpu/);
    // The NCCL check needs real GPUs (the emulator's backends are not cuda:N): skipped, saying why.
    assert.match(out, /^skip {2}nccl +all-reduce +needs 2 or more GPUs, 0 present$/m);
  });
  it('refuses an unknown mode and an unavailable backend with a message', () => {
    const bad = spawnSync(program, ['frobnicate'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /usage: test-backend-ops/);
    const none = spawnSync(program, ['test', '-b', 'cuda:7'], { encoding: 'utf8' });
    assert.equal(none.status, 1);
    assert.match(none.stdout, /backend cuda:7 unavailable/);
  });
});
