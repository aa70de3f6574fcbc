#!/usr/bin/env node
require('../dist/lib/cli/index.js').main(['train', ...process.argv.slice(2)]);
