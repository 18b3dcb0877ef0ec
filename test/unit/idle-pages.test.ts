import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  AccessCounter, IdlePagesTracker, IdlePageType, PIP_CMD_SET_HVA, SCAN_AS_HUGE, SCAN_IGN_HOST,
  clipRuns, decodeIdlePages, type IdlePagesIo,
} from '../../src/scan/idle-pages.js';
import type { AccessMapVma } from '../../src/scan/access-map.js';
import { SysError } from '../../src/native/errors.js';

const FIXTURES = new URL('../../../test/fixtures/idle-pages/', import.meta.url);
const K4 = 4096;
const M2 = 2 * 1024 * 1024;

/** Hand-built stream pieces. */
const item = (type: number, nr: number): number[] => [(type << 4) | nr];
function setHva(addr: number): number[] {
  const out = [PIP_CMD_SET_HVA];
  let v = BigInt(addr);
  const bytes: number[] = [];
  for (let i = 0; i < 8; i++) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return [...out, ...bytes];
}
const stream = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());

function readHexFixture(name: string): Uint8Array {
  const text = readFileSync(new URL(name, FIXTURES), 'utf8');
  const hex = text.split('\n').map((l) => l.replace(/#.*/, '')).join(' ').split(/\s+/).filter(Boolean);
  return Uint8Array.from(hex.map((h) => parseInt(h, 16)));
}

describe('idle_pages decoder (fixture)', () => {
  test('every page type, holes and cursor jumps decode to the expected runs (fixture every-type.hex)', () => {
    const bytes = readHexFixture('every-type.hex');
    const expected = JSON.parse(readFileSync(new URL('every-type.json', FIXTURES), 'utf8')) as {
      startAddress: string;
      runs: Array<{ start: string; pageSizeBytes: number; pageCount: number; accessed: boolean; dirty: boolean }>;
    };
    const runs = decodeIdlePages(bytes, Number(expected.startAddress));
    assert.deepEqual(runs, expected.runs.map((r) => ({ ...r, start: Number(r.start) })));
  });

  test('holes advance the cursor without producing pages (fixture)', () => {
    const base = 0x10000000;
    const runs = decodeIdlePages(stream(item(IdlePageType.PTE_HOLE, 15), item(IdlePageType.PMD_HOLE, 1), item(IdlePageType.PTE_IDLE, 1)), base);
    assert.deepEqual(runs, [{ start: base + 15 * K4 + M2, pageSizeBytes: K4, pageCount: 1, accessed: false, dirty: false }]);
  });

  test('consecutive items of one kind merge into one run (nr is capped at 15 per byte) (fixture)', () => {
    const runs = decodeIdlePages(stream(item(IdlePageType.PMD_ACCESSED, 15), item(IdlePageType.PMD_ACCESSED, 15), item(IdlePageType.PMD_ACCESSED, 2)), 0x40000000);
    assert.deepEqual(runs, [{ start: 0x40000000, pageSizeBytes: M2, pageCount: 32, accessed: true, dirty: false }]);
  });

  test('a SET_HVA jump forward leaves a gap; a high address decodes exactly (fixture)', () => {
    const high = 0x7ffffffff000; // top of the 47-bit user address space
    const runs = decodeIdlePages(stream(item(IdlePageType.PTE_ACCESSED, 1), setHva(high), item(IdlePageType.PTE_IDLE, 1)), 0x1000);
    assert.deepEqual(runs.map((r) => [r.start, r.accessed]), [[0x1000, true], [high, false]]);
  });

  test('malformed streams are rejected naming the byte offset (fixture)', () => {
    assert.throws(() => decodeIdlePages(stream([0xb1]), 0), /unknown page type 11 .*at byte 0/);
    assert.throws(() => decodeIdlePages(stream(item(0, 1), [0xa3]), 0), /unknown command 0xa3 at byte 1/);
    assert.throws(() => decodeIdlePages(stream(setHva(0x1000).slice(0, 5)), 0), /truncated SET_HVA/);
    assert.throws(() => decodeIdlePages(stream(item(0, 1), setHva(0x1234)), 0), /SET_HVA to 0x1234, not 4 KiB aligned at byte 1/);
  });

  test('clipRuns keeps whole pages inside the VMA only', () => {
    const runs = [{ start: 0, pageSizeBytes: K4, pageCount: 10, accessed: true, dirty: false }];
    assert.deepEqual(clipRuns(runs, 2 * K4, 5 * K4 + 100), [{ start: 2 * K4, pageSizeBytes: K4, pageCount: 3, accessed: true, dirty: false }]);
    assert.deepEqual(clipRuns(runs, 20 * K4, 30 * K4), []);
  });
});

describe('idle_pages accumulation over loop scans (fixture)', () => {
  test('counts scans in which each page was accessed; absent in the last scan = not present', () => {
    const base = 0x20000000;
    const c = new AccessCounter([{ start: base, end: base + 4 * M2, slotBytes: M2 }]);
    // scan 0: pages 0,1 accessed, 2 idle, 3 accessed
    c.addScan(decodeIdlePages(stream(item(IdlePageType.PMD_ACCESSED, 2), item(IdlePageType.PMD_IDLE, 1), item(IdlePageType.PMD_DIRTY, 1)), base));
    // scan 1: page 0 accessed, 1..2 idle, 3 a hole (unmapped since)
    c.addScan(decodeIdlePages(stream(item(IdlePageType.PMD_ACCESSED, 1), item(IdlePageType.PMD_IDLE, 2), item(IdlePageType.PMD_HOLE, 1)), base));
    // scan 2: page 0 accessed, 1 accessed, 2 idle; page 0 repeated after a jump back counts once
    c.addScan(decodeIdlePages(stream(item(IdlePageType.PMD_ACCESSED, 2), item(IdlePageType.PMD_IDLE, 1), setHva(base), item(IdlePageType.PMD_ACCESSED, 1)), base));
    assert.equal(c.scanCount, 3);
    const cursor = c.presentCursor();
    assert.deepEqual([cursor.next(), cursor.next(), cursor.next(), cursor.next()], [base, base + M2, base + 2 * M2, NaN]);
    assert.equal(c.presentCount(), 3);
    const ranges = c.toRanges((a) => (a === base ? 0 : 2));
    assert.deepEqual(ranges.toArray().map((r) => [(r.start - base) / M2, r.pageCount, r.accessCount, r.node, r.present]), [
      [0, 1, 3, 0, true],
      [1, 1, 2, 2, true],
      [2, 1, 0, 2, true],
      // PMD_DIRTY in scan 0: a write weighs 3 in etmem (etmemd_scan.c record_parse_result); this row was 1.
      [3, 1, 3, -1, false],
    ]);
  });

  test('writes weigh 3, reads 1: a page written in every scan reaches loop * 3', () => {
    const c = new AccessCounter([{ start: 0, end: 2 * K4 }]);
    for (let i = 0; i < 4; i++) {
      c.addScan([
        { start: 0, pageSizeBytes: K4, pageCount: 1, accessed: true, dirty: true },
        { start: K4, pageSizeBytes: K4, pageCount: 1, accessed: true, dirty: false },
      ]);
    }
    assert.deepEqual(c.toRanges(() => 0).toArray().map((r) => r.accessCount), [12, 4]);
  });

  test('adjacent pages with equal count and node merge into one range', () => {
    const c = new AccessCounter([{ start: 0, end: 512 * K4 }]);
    c.addScan([{ start: 0, pageSizeBytes: K4, pageCount: 512, accessed: false, dirty: false }]);
    const ranges = c.toRanges(() => 1);
    assert.deepEqual(ranges.toArray(), [{ start: 0, pageCount: 512, pageSizeBytes: K4, accessCount: 0, node: 1, present: true, swapped: false }]);
  });
});

describe('IdlePagesTracker over an injected reader (fixture)', () => {
  const htVma: AccessMapVma = { start: 0x7f0000000000, end: 0x7f0000000000 + 4 * M2, vmFlags: ['rd', 'wr', 'sh', 'mr', 'mw', 'me', 'ms', 'ht'], pathname: '/dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.pc.ram.abc (deleted)' };
  const anonVma: AccessMapVma = { start: 0x55550000000, end: 0x55550000000 + 16 * K4, vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'ac'], pathname: '[heap]' };

  function fakeIo(scans: Uint8Array[][], calls: Array<[number, number, number, number]>, nodes = (a: number): number => (a < htVma.start + 2 * M2 ? 0 : 2)): IdlePagesIo {
    let read = 0;
    return {
      readVmas: async () => [anonVma, htVma],
      readIdlePages: async (pid, startVa, endVa, flags) => {
        calls.push([pid, startVa, endVa, flags]);
        return scans[read++]![0]!; // one matching VMA: one read per scan
      },
      pageNodes: async (_pid, addrs) => Int32Array.from(addrs, (a) => nodes(a)),
    };
  }

  test('one cycle: loop reads of the matching VMAs with SCAN_AS_HUGE|SCAN_IGN_HOST, counts and nodes in the map', async () => {
    const s = (...types: number[]): Uint8Array[] => [stream(...types.map((t) => item(t, 1)))];
    const A = IdlePageType.PMD_ACCESSED;
    const I = IdlePageType.PMD_IDLE;
    const scans = [s(A, A, I, I), s(A, I, I, A), s(A, A, I, I)];
    const calls: Array<[number, number, number, number]> = [];
    const sleeps: number[] = [];
    const tracker = new IdlePagesTracker(fakeIo(scans, calls), async (ms) => void sleeps.push(ms));
    const map = await tracker.scanCycle({ pid: 1234, filter: { vmFlags: ['ht'], anonOnly: false }, ignHost: true }, { loop: 3, intervalMs: 250 });
    assert.deepEqual(calls, [0, 1, 2].map(() => [1234, htVma.start, htVma.end, SCAN_AS_HUGE | SCAN_IGN_HOST]), 'only the ht VMA is read, once per scan');
    assert.deepEqual(sleeps, [250, 250]);
    assert.equal(map.tracker, 'idle-pages');
    assert.equal(map.loop, 3);
    assert.deepEqual(map.vmas, [htVma]);
    assert.deepEqual(map.ranges.toArray().map((r) => [(r.start - htVma.start) / M2, r.pageCount, r.accessCount, r.node]), [
      [0, 1, 3, 0],
      [1, 1, 2, 0],
      [2, 1, 0, 2],
      [3, 1, 1, 2],
    ]);
  });

  test('ESRCH from the reader ends the cycle with the SysError', async () => {
    const io: IdlePagesIo = {
      readVmas: async () => [htVma],
      readIdlePages: async () => { throw new SysError('ESRCH', 3, 'read'); },
      pageNodes: async () => new Int32Array(0),
    };
    await assert.rejects(new IdlePagesTracker(io).scanCycle({ pid: 1, filter: { vmFlags: [], anonOnly: false }, ignHost: false }, { loop: 2, intervalMs: 1 }), (e: unknown) => e instanceof SysError && e.code === 'ESRCH');
  });

  test('an aborted signal stops the cycle with an AbortError', async () => {
    const ac = new AbortController();
    ac.abort();
    const io = fakeIo([[stream(item(1, 1))]], []);
    await assert.rejects(new IdlePagesTracker(io).scanCycle({ pid: 1, filter: { vmFlags: [], anonOnly: false }, ignHost: false }, { loop: 2, intervalMs: 1, signal: ac.signal }), { name: 'AbortError' });
  });

  test('anon_only drops file-backed VMAs; no SCAN_AS_HUGE on 4K VMAs', async () => {
    const calls: Array<[number, number, number, number]> = [];
    const io = fakeIo([[stream(item(IdlePageType.PTE_ACCESSED, 1))]], calls);
    const map = await new IdlePagesTracker(io, async () => undefined).scanCycle({ pid: 7, filter: { vmFlags: [], anonOnly: true }, ignHost: false }, { loop: 1, intervalMs: 1 });
    assert.deepEqual(calls, [[7, anonVma.start, anonVma.end, 0]]);
    assert.deepEqual(map.ranges.toArray().map((r) => [r.start, r.pageSizeBytes, r.accessCount]), [[anonVma.start, K4, 1]]);
  });
});

describe('smaps VMAs', () => {
  test('parse ranges, pathnames and VmFlags; filter by flags and anon_only', async () => {
    const { parseSmapsVmas, filterVmas } = await import('../../src/scan/proc-vmas.js');
    const text = [
      '55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]',
      'Size:                132 kB',
      'VmFlags: rd wr mr mw me ac',
      '7f4000000000-7f4008000000 rw-s 00000000 00:2f 123   /dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.pc.ram.x (deleted)',
      'KernelPageSize:     2048 kB',
      'VmFlags: rd wr sh mr mw me ms de ht',
      '7f5000000000-7f5000001000 r--p 00000000 08:01 42   /usr/lib/x86_64-linux-gnu/libc.so.6',
      'VmFlags: rd mr mw me',
      '',
    ].join('\n');
    const vmas = parseSmapsVmas(text);
    assert.deepEqual(vmas.map((v) => [v.start, v.end, v.pathname, v.vmFlags.length]), [
      [0x55d0c0a00000, 0x55d0c0a21000, '[heap]', 6],
      [0x7f4000000000, 0x7f4008000000, '/dev/hugepages/libvirt/qemu/1-vm/qemu_back_mem.pc.ram.x (deleted)', 9],
      [0x7f5000000000, 0x7f5000001000, '/usr/lib/x86_64-linux-gnu/libc.so.6', 4],
    ]);
    assert.deepEqual(filterVmas(vmas, { vmFlags: ['ht'], anonOnly: false }).map((v) => v.start), [0x7f4000000000]);
    assert.deepEqual(filterVmas(vmas, { vmFlags: [], anonOnly: true }).map((v) => v.start), [0x55d0c0a00000]);
  });

  test('a pid that does not exist rejects with ESRCH', async () => {
    const { readVmas } = await import('../../src/scan/proc-vmas.js');
    await assert.rejects(readVmas(2 ** 22 + 12345), (e: unknown) => e instanceof SysError && e.code === 'ESRCH');
  });
});

test('setHvaBytes builds the SET_HVA command the decoder reads (fixture)', async () => {
  const { setHvaBytes } = await import('../../src/scan/idle-pages.js');
  const runs = decodeIdlePages(Uint8Array.from([...setHvaBytes(0x7f1234600000), (IdlePageType.PMD_IDLE << 4) | 1]), 0);
  assert.deepEqual(runs.map((r) => r.start), [0x7f1234600000]);
});

test('probes on this host: idle_pages and page_idle are reported missing with the reason', async () => {
  const { probeIdlePages } = await import('../../src/scan/idle-pages.js');
  const { probePageIdle } = await import('../../src/scan/page-idle.js');
  const { existsSync } = await import('node:fs');
  const idle = await probeIdlePages();
  assert.equal(idle.available, existsSync(`/proc/${process.pid}/idle_pages`));
  if (!idle.available) assert.match(idle.reason, /etmem_scan/);
  const pi = await probePageIdle();
  assert.equal(pi.available, existsSync('/sys/kernel/mm/page_idle/bitmap'));
  if (!pi.available) assert.match(pi.reason, /CONFIG_IDLE_PAGE_TRACKING/);
});

test('a page that changed size between scans leaves no overlapping ranges; the last scan wins (fixture)', () => {
  const base = 0x40000000;
  // 4 KiB slots (an anonymous VMA with THP) and 2 MiB slots (cut to 4 KiB when the 4K pages come) give the same.
  for (const slotBytes of [K4, M2]) {
    const c = new AccessCounter([{ start: base, end: base + M2, slotBytes }]);
    // scan 0: the 2M area is 512 idle PTEs; scan 1: it is one accessed 2M page (THP collapse)
    c.addScan(decodeIdlePages(stream(item(IdlePageType.PMD_IDLE_PTES, 1)), base));
    c.addScan(decodeIdlePages(stream(item(IdlePageType.PMD_ACCESSED, 1)), base));
    assert.deepEqual(c.toRanges(() => 0).toArray(), [{ start: base, pageCount: 1, pageSizeBytes: M2, accessCount: 1, node: 0, present: true, swapped: false }]);
    // and back: split into 4K pages, only the first two reported accessed
    c.addScan(decodeIdlePages(stream(item(IdlePageType.PTE_ACCESSED, 2), item(IdlePageType.PTE_IDLE, 15)), base));
    const ranges = c.toRanges(() => 0);
    for (let i = 1; i < ranges.length; i++) assert.ok(ranges.get(i - 1).start + ranges.get(i - 1).pageCount * ranges.get(i - 1).pageSizeBytes <= ranges.get(i).start, 'sorted, non-overlapping');
    assert.deepEqual(ranges.toArray().map((r) => [(r.start - base) / K4, r.pageCount, r.pageSizeBytes, r.accessCount, r.present]), [
      [0, 2, K4, 1, true],
      [2, 15, K4, 0, true],
      [17, 512 - 17, K4, 0, false], // 4K pages of scan 0 the last scan did not report
    ], `slots of ${slotBytes} bytes`);
  }
});
