#!/usr/bin/env node
require('../dist/lib/cli/index.js').main();
