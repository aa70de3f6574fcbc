#!/usr/bin/env node
// `npm install` hook: use a prebuilt binary for this platform when one loads,
// otherwise build from source with CMake. (An install script also stops npm
// from running its implicit `node-gyp rebuild`.)
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

function loadablePrebuild() {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (!fs.existsSync(dir)) return null;
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.node')) continue;
    try {
      require(path.join(dir, f));
      return path.join(dir, f);
    } catch (e) {
      console.log(`cornernet-native: prebuild ${f} does not load here (${e.message.split('\n')[0]})`);
    }
  }
  return null;
}

if (!process.env.CORNERNET_BUILD_FROM_SOURCE) {
  const found = loadablePrebuild();
  if (found) {
    console.log(`cornernet-native: using prebuilt ${path.relative(root, found)}`);
    process.exit(0);
  }
}
try {
  require('./build-native.js').build();
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
