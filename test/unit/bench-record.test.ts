import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withBenchmarkSection } from '../../bench/record.js';

const DOC = '# Benchmarks\n\n## Mover\nold mover run\n\n## Trackers\nold tracker run\n\n## Feed\nfeed\n';

test('a run lands at the end of its own heading, before the next heading, not at the end of the file', () => {
  const out = withBenchmarkSection(DOC, 'Trackers', '\n### new tracker run\nrows\n');
  assert.equal(out, '# Benchmarks\n\n## Mover\nold mover run\n\n## Trackers\nold tracker run\n\n### new tracker run\nrows\n\n## Feed\nfeed\n');
});

test('the last heading takes its run at the end of the file; a new heading is added once', () => {
  assert.equal(withBenchmarkSection(DOC, 'Feed', '\nmore\n'), `${DOC}\nmore\n`);
  const added = withBenchmarkSection(DOC, 'Hook', '\nhook run\n');
  assert.equal(added, `${DOC}\n## Hook\n\nhook run\n`);
  assert.equal(withBenchmarkSection(added, 'Hook', 'again\n').match(/## Hook\n/g)?.length, 1);
  assert.equal(withBenchmarkSection('', 'Mover', 'run\n'), '# Benchmarks\n\n## Mover\nrun\n');
});

test('a heading that is only a prefix of another is not taken for it', () => {
  const doc = '# B\n\n## Trackers at scale\nx\n';
  assert.equal(withBenchmarkSection(doc, 'Trackers', 'y\n'), `${doc}\n## Trackers\ny\n`);
});
