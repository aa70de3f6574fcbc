#!/usr/bin/env node
// `npm run prebuild`: the binary for this platform in prebuilds/<platform>-<arch>/,
// as node-gyp-build and scripts/install.js look for it.
//
// prebuildify (--napi --strip) runs `node-gyp rebuild`, whose binding.gyp action
// is scripts/build-native.js (the CMake build), then moves the addon into
// prebuilds/ as <package name>.node (N-API: one binary for every Node version)
// and copies the shared libraries beside it. The backend plugins (libcornernet_*.so) must
// sit beside it: the addon dlopens them from its own folder. Last, a child
// process loads the prebuild as a user would, on this machine, and checks that
// it finds its plugins and that a missing CUDA driver/device is reported, not fatal.
//
// Offline: node-gyp needs Node's headers. They are taken from `nodedir` (npm
// config, or the install prefix of this node when it ships include/node), never
// downloaded.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

function fail(msg) {
  console.error(`cornernet-native prebuild: ${msg}`);
  process.exit(1);
}

// Node's headers for node-gyp: npm passes its `nodedir` config as npm_config_nodedir.
function nodedir() {
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm && fs.existsSync(path.join(fromNpm, 'include', 'node', 'node_api.h'))) return fromNpm;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  return null;
}

// node-gyp: on PATH (npm run adds its bundled copy), else npm's own.
function nodeGyp() {
  if (process.env.PREBUILD_NODE_GYP) return process.env.PREBUILD_NODE_GYP;
  const onPath = spawnSync('node-gyp', ['--version'], { encoding: 'utf8' });
  if (onPath.status === 0) return 'node-gyp';
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (fs.existsSync(bundled)) return bundled;
  fail('node-gyp was not found (run this through `npm run prebuild`, or set PREBUILD_NODE_GYP)');
}

function run() {
  const started = Date.now();
  const dir = nodedir();
  if (!dir) fail("no Node headers found: set npm's nodedir (npm config set nodedir <prefix holding include/node>)");
  const env = { ...process.env, npm_config_nodedir: dir, PREBUILD_NODE_GYP: nodeGyp() };
  console.log(`cornernet-native prebuild: node-gyp ${env.PREBUILD_NODE_GYP}, headers from ${dir}`);
  fs.rmSync(outDir, { recursive: true, force: true });
  const prebuildify = require.resolve('prebuildify/bin.js');
  const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip'], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) fail(`prebuildify failed (exit ${r.status})`);

  const addons = fs.existsSync(outDir) ? fs.readdirSync(outDir).filter((f) => f.endsWith('.node')) : [];
  if (addons.length !== 1) fail(`expected one addon in ${outDir}, found ${addons.length ? addons.join(', ') : 'none'}`);
  const addon = path.join(outDir, addons[0]);
  // prebuildify copies the shared libraries it finds beside the built addon;
  // make sure every plugin of this build arrived, and none from an older one.
  const release = path.join(root, 'build', 'Release');
  const plugins = fs.readdirSync(release).filter((f) => /^libcornernet_.*\.so$/.test(f));
  for (const f of fs.readdirSync(outDir)) {
    if (f.endsWith('.so') && !plugins.includes(f)) fs.rmSync(path.join(outDir, f));
  }
  for (const f of plugins) {
    const dest = path.join(outDir, f);
    if (!fs.existsSync(dest)) {
      fs.copyFileSync(path.join(release, f), dest);
      spawnSync('strip', ['--strip-unneeded', dest], { stdio: 'inherit' });
    }
  }
  // prebuildify moved the addon out of build/Release; put the unstripped one back
  // so the development tree keeps loading its own build.
  const built = path.join(root, 'build', 'cmake', 'Release', 'cornernet.node');
  if (fs.existsSync(built)) fs.copyFileSync(built, path.join(release, 'cornernet.node'));

  check(addon, plugins);
  const sizes = fs.readdirSync(outDir).map((f) => `${f} ${(fs.statSync(path.join(outDir, f)).size / 2 ** 20).toFixed(1)} MiB`);
  console.log(`cornernet-native prebuild: ${path.relative(root, outDir)}: ${sizes.join(', ')} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

// Loads the prebuild in a fresh process with CUDA hidden, as on a machine without a GPU.
function check(addon, plugins) {
  const script = `
    const a = require(${JSON.stringify(addon)});
    const i = a.info();
    console.log(JSON.stringify({ addonDir: i.addonDir, cuda: i.cuda.status, cudaMessage: i.cuda.message, emu: i.cudaEmu.status }));
    let err = '';
    try { a.backendInfo('cuda'); } catch (e) { err = e.message; }
    console.log(JSON.stringify({ cudaError: err }));`;
  const env = { ...process.env, CUDA_VISIBLE_DEVICES: '', LD_LIBRARY_PATH: '' };
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  if (r.status !== 0) fail(`the prebuild does not load: ${r.stderr || `exit ${r.status}, signal ${r.signal}`}`);
  const [info, sel] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  if (path.resolve(info.addonDir) !== path.resolve(outDir)) fail(`the prebuild looks for its plugins in ${info.addonDir}, not ${outDir}`);
  if (plugins.includes('libcornernet_cuda_emu.so') && info.emu !== 'ok') fail(`the cuda-emu plugin did not load beside the prebuild: ${info.emu}`);
  if (plugins.includes('libcornernet_cuda.so')) {
    if (!['ok', 'no-driver', 'no-device'].includes(info.cuda)) fail(`the CUDA plugin's probe says ${info.cuda}: ${info.cudaMessage}`);
    if (info.cuda !== 'ok' && !sel.cudaError) fail("backend 'cuda' did not report why it is unusable");
  }
  console.log(`cornernet-native prebuild: loads without CUDA (cuda: ${info.cuda}${sel.cudaError ? `; 'cuda' gives: ${sel.cudaError}` : ''})`);
}

run();
