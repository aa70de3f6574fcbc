// `cornernet test` as a user runs it (a child process): an unreadable val image
// is an error naming the file, with exit status 1, never an unhandled rejection.
import { strict as assert } from 'assert';
import * as fs from 'fs';

import { cornernet, makeCliFixture, type CliFixture } from './cli_fixture';

describe('cornernet test', function () {
  this.timeout(60_000);
  let f: CliFixture;
  before(async () => {
    f = await makeCliFixture('cli-test', { train: 1, val: 3 });
  });
  after(() => fs.rmSync(f.dir, { recursive: true, force: true }));

  it('runs over the val split', () => {
    const r = cornernet(['test', '--weights', f.weights, '--data', f.data, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { stats: number[] }).stats.length, 12);
  });

  it('an unreadable second val image (read while the first one runs) ends it with the file named', () => {
    const bad = f.images('val')[1]!;
    const good = fs.readFileSync(bad);
    fs.writeFileSync(bad, 'not an image');
    try {
      const r = cornernet(['test', '--weights', f.weights, '--data', f.data]);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.ok(lines[lines.length - 1]!.startsWith(`cornernet: ${bad}: cannot be decoded (`), r.stderr);
      assert.doesNotMatch(r.stderr, /Unhandled|\n\s+at /, 'a raw stack or unhandled rejection');
    } finally {
      fs.writeFileSync(bad, good);
    }
  });
});
