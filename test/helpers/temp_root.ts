// Loaded by mocha before any test file (.mocharc.json `require`): every temp
// folder of the run, the tests' own and their child processes' (os.tmpdir()
// reads TMPDIR, which children inherit), goes under one folder that is removed
// when the run ends, so a test run leaves nothing in the system's temp folder
// (one run of the suite used to leave about 800 folders, 0.3 GB). The folder is
// kept, and named, when a test failed or CORNERNET_KEEP_TEST_TMP=1, to look at.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cornernet-tests-'));
process.env.TMPDIR = root;

let failed = false;

export const mochaHooks = {
  afterEach(this: Mocha.Context) {
    if (this.currentTest?.state === 'failed') failed = true;
  },
  afterAll() {
    if (failed || process.env.CORNERNET_KEEP_TEST_TMP === '1') {
      console.log(`test temp files kept in ${root}`);
      return;
    }
    fs.rmSync(root, { recursive: true, force: true });
  },
};
