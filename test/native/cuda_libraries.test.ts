// The CUDA backend's optional libraries (native/cuda/cuda_libraries.{h,cc}):
// the loader's not-found and missing-symbol paths (through cornernet_cuda_check,
// which links the loader), the status the backends report (backendInfo,
// `cornernet info`), and that convolutions on cuda-emu, where the libraries are
// never loaded, still run on the own kernels and agree with the CPU.
import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { formatInfo, info } from '../../lib/info';
import { type BackendLibraryInfo, native } from '../../lib/native';
import * as ops from '../../lib/ops';
import { assertClose } from '../helpers/assert_close';
import { checkTool, runTool } from './cuda_check_tool';

interface Load {
  found: boolean;
  soname: string;
  path: string;
  whyNot: string;
}
interface LibrariesOut {
  cudnn: Load;
  cublas: Load;
  nccl: Load;
  version: { cudnn90600: string; cudnn8907: string; cublas120604: string; nccl22105: string; nccl2804: string };
}

function libraries(sonames: string[] = []): LibrariesOut {
  const r = runTool(['libraries', ...sonames]);
  assert.equal(r.status, 0, `cornernet_cuda_check libraries exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as LibrariesOut;
}

describe('CUDA optional libraries: loader', () => {
  it('names every soname it tried when none opens', () => {
    const out = libraries(['libcornernet-absent-a.so.1', 'libcornernet-absent-b.so.2']);
    for (const l of [out.cudnn, out.cublas, out.nccl]) {
      assert.equal(l.found, false);
      assert.equal(l.soname, '');
      assert.match(l.whyNot, /^not found \(tried /);
      assert.match(l.whyNot, /libcornernet-absent-a\.so\.1/);
      assert.match(l.whyNot, /libcornernet-absent-b\.so\.2/);
    }
  });

  it('tries libcudnn.so.9 then .8, libcublas.so.13 then .12, and libnccl.so.2 by default', () => {
    const out = libraries();
    // Where the libraries are installed the default lists open one of them.
    if (out.cudnn.found) assert.ok(['libcudnn.so.9', 'libcudnn.so.8'].includes(out.cudnn.soname), out.cudnn.soname);
    else assert.match(out.cudnn.whyNot, /libcudnn\.so\.9.*libcudnn\.so\.8/);
    if (out.cublas.found) assert.ok(['libcublas.so.13', 'libcublas.so.12'].includes(out.cublas.soname), out.cublas.soname);
    else assert.match(out.cublas.whyNot, /libcublas\.so\.13.*libcublas\.so\.12/);
    if (out.nccl.found) assert.equal(out.nccl.soname, 'libnccl.so.2');
    else assert.match(out.nccl.whyNot, /^not found \(tried libnccl\.so\.2/);
  });

  it('refuses a library that opens but lacks a declared function, naming it', () => {
    // glibc's libm opens everywhere and exports neither API.
    const out = libraries(['libm.so.6']);
    assert.equal(out.cudnn.found, false);
    assert.match(out.cudnn.whyNot, /^libm\.so\.6 opened but lacks cudnnGetVersion/);
    assert.equal(out.cublas.found, false);
    assert.match(out.cublas.whyNot, /^libm\.so\.6 opened but lacks cublasCreate_v2/);
    assert.equal(out.nccl.found, false);
    assert.match(out.nccl.whyNot, /^libm\.so\.6 opened but lacks ncclGetVersion/);
  });

  it('formats library versions as the libraries number them', () => {
    const v = libraries(['libcornernet-absent.so.1']).version;
    assert.deepEqual(v, { cudnn90600: '9.6.0', cudnn8907: '8.9.7', cublas120604: '12.6.4', nccl22105: '2.21.5', nccl2804: '2.8.4' });
  });
});

describe('CUDA optional libraries: status on cuda-emu', () => {
  before(function () {
    if (!native().info().cudaEmu.loaded) this.skip();
  });

  it('backendInfo reports cuDNN, cuBLAS and NCCL as not available, saying why', () => {
    const b = native().backendInfo('cuda-emu');
    assert.deepEqual(
      b.libraries.map((l) => l.name),
      ['cuDNN', 'cuBLAS', 'NCCL']
    );
    for (const l of b.libraries) {
      assert.equal(l.found, false, l.name);
      assert.equal(l.enabled, false, l.name);
      assert.equal(l.uses, 0, l.name);
      assert.match(l.message, /not loaded on the CUDA emulator/);
      assert.match(l.message, l.name === 'NCCL' ? /several GPU replicas synchronise through host copies/ : /own kernels/);
    }
  });

  it('the CPU backend has no optional libraries', () => {
    assert.deepEqual(native().backendInfo('cpu').libraries, []);
  });

  it('`cornernet info` lists the cuda-emu backend with its libraries and why they are not used', () => {
    const i = info();
    const emu = i.backends.find((b) => b.backend === 'cuda-emu');
    assert.ok(emu, JSON.stringify(i.backends));
    assert.deepEqual(
      emu.libraries.map((l) => [l.name, l.found]),
      [
        ['cuDNN', false],
        ['cuBLAS', false],
        ['NCCL', false],
      ]
    );
    assert.deepEqual(i.backends.find((b) => b.backend === 'cpu')?.libraries, []);
    const text = formatInfo(i);
    assert.match(
      text,
      /^ {2}cuda-emu +.*\n +cuDNN: not available: not loaded on the CUDA emulator.*\n +cuBLAS: not available: not loaded on the CUDA emulator.*\n +NCCL: not available: not loaded on the CUDA emulator/m
    );
  });

  // 1x1 (the cuBLAS path on a GPU without cuDNN) and a padded strided 3x3 (cuDNN's).
  const cases = [
    { name: '1x1 s1', x: [2, 5, 4, 3], w: [6, 5, 1, 1], stride: 1, padding: 0 },
    { name: '3x3 s2 p1', x: [2, 3, 7, 6], w: [4, 3, 3, 3], stride: 2, padding: 1 },
  ];
  for (const c of cases) {
    it(`conv2d ${c.name} runs on the own kernels and agrees with the CPU`, function () {
      if (!native().backendInfo('cuda-emu').supports.includes('conv2d_forward')) this.skip();
      let seed = 7;
      const rnd = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
      const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
      const x = ops.tensor(rnd(numel(c.x)), c.x);
      const weight = ops.tensor(rnd(numel(c.w)), c.w);
      const bias = ops.tensor(rnd(c.w[0]!), [c.w[0]!]);
      const args = { x, weight, bias, stride: c.stride, padding: c.padding };
      const want = ops.conv2dForward(args);
      const got = ops.conv2dForward(args, { backend: 'cuda-emu' });
      assertClose(`${c.name} y`, got.y, want.y, { rtol: 1e-5, atol: 1e-5 });
      const gradY = ops.tensor(rnd(numel(want.y.shape)), want.y.shape);
      const gw = ops.conv2dBackward({ ...args, gradY });
      const gg = ops.conv2dBackward({ ...args, gradY }, { backend: 'cuda-emu' });
      assertClose(`${c.name} gradX`, gg.gradX, gw.gradX, { rtol: 1e-5, atol: 1e-5 });
      assertClose(`${c.name} gradWeight`, gg.gradWeight, gw.gradWeight, { rtol: 1e-5, atol: 1e-5 });
      assertClose(`${c.name} gradBias`, gg.gradBias, gw.gradBias, { rtol: 1e-5, atol: 1e-5 });
      for (const l of native().backendInfo('cuda-emu').libraries) assert.equal(l.uses, 0, `${l.name} must not have run`);
    });
  }
});

// cuda-emu with a cuDNN / cuBLAS that compute on host memory (test-tools'
// libcornernet_host_cudnn.so / libcornernet_host_cublas.so, named by
// CORNERNET_EMU_CUDNN / CORNERNET_EMU_CUBLAS): the backend's library paths
// (descriptors, algorithm choice, workspaces, GEMM layouts, bias, the
// once-per-shape check against the own kernels, disabling) run in CI. Each case
// in a child process: the libraries load once per process. A 1x1 convolution
// (cuBLAS's shape) and a padded 3x3 one, forward and all gradients.
describe('CUDA optional libraries: cuDNN and cuBLAS paths on cuda-emu (host-memory libraries)', () => {
  const hostCublas = path.join(path.dirname(checkTool), 'libcornernet_host_cublas.so');
  const hostCudnn = path.join(path.dirname(checkTool), 'libcornernet_host_cudnn.so');

  interface ChildOut {
    diffs: Record<string, number>;
    libraries: BackendLibraryInfo[];
  }
  function runChild(env: Record<string, string>): { out: ChildOut; stderr: string; cudnn: BackendLibraryInfo; cublas: BackendLibraryInfo } {
    const script = `
      const ops = require(${JSON.stringify(path.resolve(__dirname, '../../lib/ops.js'))});
      const { native } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/native.js'))});
      let seed = 11;
      const rnd = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
      const numel = (s) => s.reduce((a, b) => a * b, 1);
      const maxDiff = (a, b) => a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);
      const diffs = {};
      for (const c of [
        { name: '1x1', x: [2, 5, 4, 3], w: [6, 5, 1, 1], stride: 1, padding: 0 },
        { name: '3x3', x: [2, 3, 6, 5], w: [4, 3, 3, 3], stride: [2, 1], padding: 1 },
      ]) {
        const x = ops.tensor(rnd(numel(c.x)), c.x), weight = ops.tensor(rnd(numel(c.w)), c.w);
        const bias = ops.tensor(rnd(c.w[0]), [c.w[0]]);
        const args = { x, weight, bias, stride: c.stride, padding: c.padding };
        const want = ops.conv2dForward(args), got = ops.conv2dForward(args, { backend: 'cuda-emu' });
        diffs[c.name + ' y'] = maxDiff(got.y, want.y);
        const gradY = ops.tensor(rnd(numel(want.y.shape)), want.y.shape);
        const gw = ops.conv2dBackward({ ...args, gradY }), gg = ops.conv2dBackward({ ...args, gradY }, { backend: 'cuda-emu' });
        for (const k of ['gradX', 'gradWeight', 'gradBias']) diffs[c.name + ' ' + k] = maxDiff(gg[k], gw[k]);
      }
      process.stdout.write(JSON.stringify({ diffs, libraries: native().backendInfo('cuda-emu').libraries }));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
    assert.equal(r.status, 0, `child exited with ${r.status}: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as ChildOut;
    // Whatever ran where, every result must be the CPU's.
    for (const [k, d] of Object.entries(out.diffs)) assert.ok(d <= 1e-5, `${k}: max |cuda-emu - cpu| ${d}`);
    const byName = (n: string) => out.libraries.find((l) => l.name === n)!;
    return { out, stderr: r.stderr, cudnn: byName('cuDNN'), cublas: byName('cuBLAS') };
  }

  before(function () {
    if (!native().info().cudaEmu.loaded || !native().backendInfo('cuda-emu').supports.includes('conv2d_forward')) this.skip();
    for (const f of [hostCublas, hostCudnn]) assert.ok(fs.existsSync(f), `${f} is missing: build the native code (CORNERNET_TEST_TOOLS=ON)`);
  });

  it('cuDNN runs every convolution (algorithm per shape, workspace, bias) and agrees with the CPU', () => {
    const { cudnn, cublas, stderr } = runChild({ CORNERNET_EMU_CUDNN: hostCudnn });
    assert.equal(cudnn.found, true, cudnn.message);
    assert.equal(cudnn.enabled, true, cudnn.message);
    assert.equal(cudnn.path, hostCudnn);
    assert.equal(cudnn.version, '0.0.0');
    assert.match(cudnn.message, /^used for convolutions/);
    assert.equal(cudnn.uses, 4, 'forward and backward of both shapes');
    assert.equal(cublas.found, false);
    assert.doesNotMatch(stderr, /disabled/);
  });

  it('with cuDNN present, cuBLAS is loaded but not used', () => {
    const { cudnn, cublas } = runChild({ CORNERNET_EMU_CUDNN: hostCudnn, CORNERNET_EMU_CUBLAS: hostCublas });
    assert.equal(cudnn.uses, 4);
    assert.equal(cublas.enabled, true);
    assert.equal(cublas.uses, 0);
    assert.match(cublas.message, /^loaded; not needed while cuDNN runs the convolutions/);
  });

  it('cuBLAS alone runs the 1x1 convolutions (forward, all three gradients) and agrees with the CPU', () => {
    const { cublas, stderr } = runChild({ CORNERNET_EMU_CUBLAS: hostCublas });
    assert.equal(cublas.found, true, cublas.message);
    assert.equal(cublas.enabled, true, cublas.message);
    assert.equal(cublas.path, hostCublas);
    assert.match(cublas.message, /^used for 1x1 stride-1 convolutions/);
    assert.equal(cublas.uses, 2, 'the 1x1 forward and backward; not the 3x3 ones');
    assert.doesNotMatch(stderr, /disabled/);
  });

  it('disables cuBLAS when its result differs from the own kernel, saying why, and the results stay right', () => {
    const { cublas, stderr } = runChild({ CORNERNET_EMU_CUBLAS: hostCublas, CORNERNET_HOST_CUBLAS_SKEW: '0.5' });
    assert.equal(cublas.found, true);
    assert.equal(cublas.enabled, false);
    assert.equal(cublas.uses, 0);
    assert.match(
      cublas.message,
      /^disabled: forward of x\[2,5,4,3\] w\[6,5,1,1\] stride 1x1 pad 0x0 with SGEMM: y\[0, :6\] differs from the own kernel: \|diff\| [\d.]+ at element \d+ \(library [-\d.e]+, own [-\d.e]+\) > tolerance/
    );
    assert.match(cublas.message, /the own kernels run instead$/);
    assert.match(stderr, /cornernet: cuda-emu: cuBLAS disabled: forward of x\[2,5,4,3\]/);
  });

  it('disables cuDNN when its result differs from the own kernel; cuBLAS then takes the 1x1 convolutions', () => {
    const { cudnn, cublas, stderr } = runChild({
      CORNERNET_EMU_CUDNN: hostCudnn,
      CORNERNET_EMU_CUBLAS: hostCublas,
      CORNERNET_HOST_CUDNN_SKEW: '0.25',
    });
    assert.equal(cudnn.found, true);
    assert.equal(cudnn.enabled, false);
    assert.equal(cudnn.uses, 0);
    assert.match(cudnn.message, /^disabled: forward of x\[2,5,4,3\] w\[6,5,1,1\] stride 1x1 pad 0x0 with IMPLICIT_PRECOMP_GEMM: y\[0, :6\] differs from the own kernel/);
    assert.match(stderr, /cornernet: cuda-emu: cuDNN disabled: /);
    assert.equal(cublas.enabled, true);
    assert.equal(cublas.uses, 2);
    assert.match(cublas.message, /since cuDNN was disabled$/);
  });
});
