import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FieldProblem,
  PID_MAX,
  parseDomain,
  parseName,
  parseNodePairs,
  parsePid,
  parseProcessName,
  parseStrictInt,
  parseSwapThresholdBytes,
  parseVmFlags,
  parseYesNo,
} from '../../src/config/fields.js';

function refused(fn: () => unknown, why?: RegExp): FieldProblem {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FieldProblem, String(err));
    if (why) assert.match(err.why, why);
    return err;
  }
  assert.fail('expected a FieldProblem');
}

describe('config strict integers', () => {
  test('decimal with optional sign, both range ends', () => {
    assert.equal(parseStrictInt('0', 0, 10), 0);
    assert.equal(parseStrictInt('10', 0, 10), 10);
    assert.equal(parseStrictInt('+7', 0, 10), 7);
    assert.equal(parseStrictInt('-3', -5, 10), -3);
    assert.equal(parseStrictInt('007', 0, 10), 7);
    assert.ok(Object.is(parseStrictInt('-0', 0, 10), 0), '-0 reads as 0');
    assert.equal(parseStrictInt('2147483647', 0, 2147483647), 2147483647);
  });
  test('refuses hex, fractions, empty, blanks, trailing garbage and out of range (no truncation)', () => {
    refused(() => parseStrictInt('0x10', 0, 100), /hex/);
    refused(() => parseStrictInt('1.0', 0, 100), /not an integer/);
    refused(() => parseStrictInt('1e3', 0, 10000), /not a decimal integer/);
    refused(() => parseStrictInt('', 0, 100), /empty/);
    refused(() => parseStrictInt('12abc', 0, 100));
    refused(() => parseStrictInt('1 2', 0, 100));
    refused(() => parseStrictInt('+', 0, 100));
    refused(() => parseStrictInt('--1', -5, 100));
    refused(() => parseStrictInt('3 # comment', 0, 100), /comment/);
    refused(() => parseStrictInt('11', 0, 10), /out of range/);
    refused(() => parseStrictInt('-1', 0, 10), /out of range/);
    // etmem truncates 4294967297 to 1 through an int cast; here it is out of range.
    const p = refused(() => parseStrictInt('4294967297', 1, 120), /out of range/);
    assert.equal(p.allowed, '1..120');
    refused(() => parseStrictInt('9'.repeat(400), 0, 2147483647), /out of range/);
  });
});

describe('config yes|no', () => {
  test('only yes and no', () => {
    assert.equal(parseYesNo('yes'), true);
    assert.equal(parseYesNo('no'), false);
    for (const bad of ['', 'Yes', 'true', '1', 'y']) refused(() => parseYesNo(bad));
  });
});

describe('config names', () => {
  test('1..64 characters, no control characters', () => {
    assert.equal(parseName('a'), 'a');
    assert.equal(parseName('x'.repeat(64)), 'x'.repeat(64));
    assert.equal(parseName('é'.repeat(64)), 'é'.repeat(64), 'characters, not bytes');
    refused(() => parseName(''), /empty/);
    refused(() => parseName('x'.repeat(65)), /too long/);
    refused(() => parseName('a\tb'), /control/);
  });
  test('pid 1..pid_max-1', () => {
    assert.equal(PID_MAX, 4194303);
    assert.equal(parsePid('1'), 1);
    assert.equal(parsePid('4194303'), 4194303);
    refused(() => parsePid('0'), /out of range/);
    assert.equal(parsePid('0', 0), 0, 'slide takes pid 0, as etmem');
    refused(() => parsePid('4194304'), /out of range/);
    refused(() => parsePid('12x'));
  });
  test('process name: 1..15 characters of [A-Za-z0-9.%/_-]', () => {
    assert.equal(parseProcessName('qemu-kvm'), 'qemu-kvm');
    assert.equal(parseProcessName('a.b%c/d_e-F9'), 'a.b%c/d_e-F9');
    assert.equal(parseProcessName('x'.repeat(15)), 'x'.repeat(15));
    refused(() => parseProcessName('x'.repeat(16)), /too long/);
    refused(() => parseProcessName(''), /empty/);
    refused(() => parseProcessName('qemu kvm'), /character/);
    refused(() => parseProcessName('a*'), /character/);
  });
  test("domain: a libvirt name (no '/', <= 251 bytes) or UUID", () => {
    assert.equal(parseDomain('vm-01'), 'vm-01');
    assert.equal(parseDomain('3f2a1c9e-0b7d-4c55-9a43-1d2e3f4a5b6c'), '3f2a1c9e-0b7d-4c55-9a43-1d2e3f4a5b6c');
    assert.equal(parseDomain('with space'), 'with space');
    assert.equal(parseDomain('d'.repeat(251)), 'd'.repeat(251));
    refused(() => parseDomain('d'.repeat(252)), /too long/);
    refused(() => parseDomain('é'.repeat(126)), /too long \(252 bytes\)/);
    refused(() => parseDomain('a/b'), /'\/'/);
    refused(() => parseDomain(''), /empty/);
    refused(() => parseDomain('a\nb'), /control/);
  });
});

describe('config node_pair', () => {
  const nodes = [0, 1, 2, 3];
  // etmem (etmemd_cslide.c fill_node_pair): pairs split on ';' or blanks, ids on ',', empty pairs skipped,
  // and every node of the host mapped exactly once; etmem's code contradicts the partial and `0,1;` cases
  // this test used to hold.
  test('pairs of existing nodes covering the host, DRAM first', () => {
    assert.deepEqual(parseNodePairs('0,2;1,3', nodes), [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }]);
    assert.deepEqual(parseNodePairs('0,2 1,3', nodes), [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }]);
    assert.deepEqual(parseNodePairs('0,2;1,3;', nodes), [{ dram: 0, aep: 2 }, { dram: 1, aep: 3 }]);
    assert.deepEqual(parseNodePairs(';3,0;;2,1', nodes), [{ dram: 3, aep: 0 }, { dram: 2, aep: 1 }]);
    assert.deepEqual(parseNodePairs('0,1', [0, 1]), [{ dram: 0, aep: 1 }]);
  });
  test('a node left out is refused', () => {
    refused(() => parseNodePairs('0,2', nodes), /nodes 1,3 of this host in no pair/);
    refused(() => parseNodePairs('0,2;1,3', [0, 1, 2, 3, 4, 5]), /nodes 4,5/);
    refused(() => parseNodePairs('0,1', [0, 1, 2]), /node 2 of this host/);
  });
  test('malformed values are refused', () => {
    for (const bad of ['', '0,', ',;', '0x&,2', ',', ';', '0', '0,1,2', '0;1', '-1,2', '+0,2', '0.0,2', 'a,b', '0,2 3', '0, 2;1,3']) {
      refused(() => parseNodePairs(bad, nodes));
    }
  });
  test('every id must be a node of this host', () => {
    refused(() => parseNodePairs('0,4', nodes), /node 4 does not exist/);
    refused(() => parseNodePairs('0,1', [0]), /node 1 does not exist/);
  });
  test('no node twice, within a pair or across pairs', () => {
    refused(() => parseNodePairs('0,0', nodes), /node 0 appears twice/);
    refused(() => parseNodePairs('0,2;2,3', nodes), /node 2 appears twice/);
    refused(() => parseNodePairs('0,2;1,3;0,1', nodes), /node 0 appears twice/);
    refused(() => parseNodePairs('0,2;0,3', nodes), /node 0 appears twice/);
  });
  test('the allowed form lists the host nodes', () => {
    assert.match(refused(() => parseNodePairs('0,9', nodes)).allowed, /0,1,2,3/);
  });
});

describe('config slide/cslide values', () => {
  // etmem (etmemd_common.c get_swap_threshold_inKB): up to 10 characters, digits then g|G, 0 = not set; its llt
  // accept 999999999g, which the old 8388607 GiB cap refused.
  test('swap_threshold NNg|NNG in bytes, at most 10 characters, 0 = not set', () => {
    assert.equal(parseSwapThresholdBytes('10g'), 10 * 2 ** 30);
    assert.equal(parseSwapThresholdBytes('1G'), 2 ** 30);
    assert.equal(parseSwapThresholdBytes('0g'), undefined);
    assert.equal(parseSwapThresholdBytes('g'), undefined);
    assert.equal(parseSwapThresholdBytes('8388607g'), 8388607 * 2 ** 30);
    assert.equal(parseSwapThresholdBytes('999999999g'), 999999999 * 2 ** 30);
    refused(() => parseSwapThresholdBytes('9999999999g'), /too long/);
    for (const bad of ['', '10', '10m', '10gb', '-1g', '1.5g', '0x1g', ' 1g', '12hhG']) refused(() => parseSwapThresholdBytes(bad));
  });
  test('vm_flags: only ht', () => {
    assert.deepEqual(parseVmFlags('ht'), ['ht']);
    // etmem takes exactly one flag (its llt refuse `ht rd`; `ht ht` is one flag too many for its parser).
    refused(() => parseVmFlags('ht ht'), /more than one flag/);
    refused(() => parseVmFlags(''), /empty/);
    refused(() => parseVmFlags('hg'), /unsupported flag "hg"/);
    refused(() => parseVmFlags('ht rd'), /unsupported flag "rd"/);
  });
});
