/** Turns the runner's results into node:test assertions, one test per case, shared by the host and testbed suites. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CaseResult } from './llt-runner.js';
import { DIFFERENCES } from './etmem-differences.js';

/** One test per case that ran: etmem's answer, or the listed deliberate difference. */
export function assertCaseResults(results: readonly CaseResult[], label: string): void {
  for (const r of results) {
    if (r.outcome === 'skipped') continue;
    test(`${label}: ${r.id} (etmem: ${r.expect}${r.asserted === 'not_success' ? ', asserted as a failure' : ''})`, () => {
      const listed = DIFFERENCES[r.id];
      if (listed) {
        assert.equal(r.outcome, 'listed', `listed as a deliberate difference (virt-tier: ${listed.got}; ${listed.reason}) but got ${r.got}${r.detail ? `: ${r.detail}` : ''}`);
      } else {
        assert.equal(r.outcome, 'match', `virt-tier answered ${r.got}${r.detail ? ` (${r.detail})` : ''} where etmem answers ${r.expect}`);
      }
    });
  }
}
