/**
 * etmem's llt verb cases on this host, through the real virt-tierd and
 * virt-tier CLI (llt-runner.ts): every case this host can run gives
 * etmem's answer or its listed deliberate difference. The NUMA cases run in
 * the testbed (etmem-llt-numa.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertCaseResults } from './assert-results.js';
import { DIFFERENCES } from './etmem-differences.js';
import { runLltCases } from './llt-runner.js';

const skip = process.getuid?.() === 0 ? false : 'the daemon and etmem\'s file checks need root';

if (!skip) {
  const results = await runLltCases();
  assertCaseResults(results, 'host');
  test('host: at least the project cases ran, and every listed difference that ran is still observed', () => {
    const ran = results.filter((r) => r.outcome !== 'skipped');
    assert.ok(ran.filter((r) => r.id.startsWith('proj.')).length >= 60, `${ran.length} cases ran`);
    for (const r of ran) if (DIFFERENCES[r.id]) assert.equal(r.outcome, 'listed', r.id);
  });
} else {
  test('etmem llt cases on this host', { skip }, () => undefined);
}
