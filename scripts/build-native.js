#!/usr/bin/env node
// Builds the native addon with CMake (through cmake-js, offline against
// node-api-headers) and copies the addon and its plugins to build/Release,
// where node-gyp-build looks. Used by `npm install` (scripts/install.js),
// `npm run build:native`, and binding.gyp (node-gyp, prebuildify).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');

function build(dest = path.join(root, 'build', 'Release')) {
  const out = path.join(root, 'build', 'cmake');
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const jobs = String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));
  const args = [cmakeJs, 'build', '--out', out, '--parallel', jobs];
  if (process.env.CORNERNET_CUDA === '0' || process.env.CORNERNET_CUDA === 'OFF') args.push('--CDCORNERNET_CUDA=OFF');
  if (process.env.CORNERNET_DEBUG) args.push('--debug');
  const started = Date.now();
  console.log(`cornernet-native: building the native addon with CMake (${jobs} jobs)...`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    throw new Error(
      'cornernet-native: the CMake build failed (see the compiler output above). It needs a C++17 compiler, ' +
        'CMake >= 3.18 and python3; nvcc is optional (CPU-only build without it).'
    );
  }
  const config = process.env.CORNERNET_DEBUG ? 'Debug' : 'Release';
  const built = path.join(out, config);
  fs.mkdirSync(dest, { recursive: true });
  const artefacts = fs.readdirSync(built).filter((f) => f.endsWith('.node') || /^libcornernet_.*\.so$/.test(f));
  if (!artefacts.includes('cornernet.node')) throw new Error(`cornernet-native: no cornernet.node in ${built}`);
  for (const f of fs.readdirSync(dest)) {
    // A plugin left from an earlier build with other options must not be picked up.
    if (/^libcornernet_.*\.so$/.test(f) && !artefacts.includes(f)) fs.rmSync(path.join(dest, f));
  }
  for (const f of artefacts) {
    if (path.resolve(built) === path.resolve(dest)) continue;
    // Copy, then rename over: a process that has the old library loaded keeps
    // its (unlinked) file; writing into that file in place would crash it.
    const tmp = path.join(dest, `.${f}.tmp-${process.pid}`);
    fs.copyFileSync(path.join(built, f), tmp);
    fs.renameSync(tmp, path.join(dest, f));
  }
  console.log(`cornernet-native: built ${artefacts.join(', ')} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

module.exports = { build };

if (require.main === module) {
  const i = process.argv.indexOf('--dest');
  try {
    build(i > 0 ? path.resolve(process.argv[i + 1]) : undefined);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
