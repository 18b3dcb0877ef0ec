/**
 * etmem's llt verb cases that need 2, 4 or 6 NUMA nodes (cslide engines,
 * and the slide cases, whose set-up adds a cslide engine), in the 4-node
 * testbed: one boot runs llt-runner.js for every such case and prints the
 * results; each case is then one test here. Under TCG each CLI start-up
 * takes seconds, so the first case of each verb goes through the CLI and
 * the rest through the same daemon requests over the socket (the host
 * suite runs every case through the CLI).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInTestbed, testbedAvailability } from '../testbed/harness.js';
import { assertCaseResults } from './assert-results.js';
import type { CaseResult } from './llt-runner.js';

const availability = testbedAvailability();

if (availability.available) {
  const r = await runInTestbed({ command: 'node dist/test/conformance/llt-runner.js --cli-first-of-kind slide. cslide.', timeoutMs: 420_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const parsed = (() => {
    try {
      return JSON.parse(last) as { nodes: number; results: CaseResult[] };
    } catch {
      return undefined;
    }
  })();
  test('testbed: the runner ran on 4 NUMA nodes', () => {
    assert.equal(r.exitCode, 0, `${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
    assert.ok(parsed, `no JSON line: ${last.slice(0, 500)}`);
    assert.equal(parsed.nodes, 4);
    assert.ok(parsed.results.filter((x) => x.outcome !== 'skipped').length >= 80, 'the slide and cslide cases ran');
  });
  if (parsed) assertCaseResults(parsed.results, 'testbed');
} else {
  test('etmem llt NUMA cases in the testbed', { skip: availability.reason }, () => undefined);
}
