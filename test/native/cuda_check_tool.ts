// Runs build/cmake/test-tools/cornernet_cuda_check (built with the addon by
// CMake, never installed): the CUDA emulator's self-tests, and corner pools
// through a backend plugin's cn::Backend exactly as the addon drives it.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { packageRoot } from '../../lib/native';

export const checkTool = path.join(packageRoot, 'build', 'cmake', 'test-tools', 'cornernet_cuda_check');

export interface ToolResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `env` adds variables to this process's environment for the tool's run. */
export function runTool(args: string[], env?: Record<string, string>): ToolResult {
  if (!fs.existsSync(checkTool)) {
    throw new Error(`${checkTool} is missing: build the native code with \`npm run build:native\` (CORNERNET_TEST_TOOLS=ON, the default)`);
  }
  const r = spawnSync(checkTool, args, {
    encoding: 'utf8',
    timeout: 60_000,
    env: env ? { ...process.env, ...env } : process.env,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A self-test's inputs and outputs (see test/native/cuda_check/selftests.cc). */
export function selftest<T>(name: string): T {
  const r = runTool(['selftest', name]);
  if (r.status !== 0) throw new Error(`selftest ${name} exited with ${r.status}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

export type CornerPoolMode = 'top' | 'bottom' | 'left' | 'right';

/**
 * corner_pool_forward (gy undefined) or corner_pool_backward on device `device`
 * of the plugin at `plugin`; returns y or gradX.
 */
export function pluginCornerPool(
  plugin: string,
  device: number,
  mode: CornerPoolMode,
  shape: number[],
  x: Float32Array,
  gy?: Float32Array
): { out: Float32Array; backend: string; device: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-cuda-check-'));
  try {
    fs.writeFileSync(path.join(dir, 'x.bin'), Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    if (gy) fs.writeFileSync(path.join(dir, 'gy.bin'), Buffer.from(gy.buffer, gy.byteOffset, gy.byteLength));
    const op = gy ? 'corner_pool_backward' : 'corner_pool_forward';
    const r = runTool(['op', plugin, String(device), op, mode, ...shape.map(String), dir]);
    if (r.status !== 0) throw new Error(`${op} (${mode}) on ${plugin} exited with ${r.status}: ${r.stderr.trim()}`);
    const bytes = fs.readFileSync(path.join(dir, gy ? 'gx.bin' : 'y.bin'));
    const out = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const info = JSON.parse(r.stdout) as { backend: string; device: string };
    return { out, ...info };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
