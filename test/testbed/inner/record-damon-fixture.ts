/**
 * Inside the testbed: runs one DAMON vaddr cycle over a small synthetic
 * guest through an I/O wrapper that records every read and write with its
 * result, and prints the recording as JSON: the fixture the unit tests
 * replay (test/unit/damon-fixture-6.12.json). Regenerate with:
 *
 *   node dist/test/testbed/run.js --hugepages 0:16 -- \
 *     node dist/test/testbed/inner/record-damon-fixture.js > test/unit/damon-fixture-6.12.json
 */
import { readFileSync } from 'node:fs';
import { liveIO, type IoOp, type PlatformIO } from '../../../src/platform/io.js';
import { DamonVaddrTracker } from '../../../src/scan/damon.js';
import { startSyntheticGuest } from './synthetic-guest.js';

/** An I/O operation as RecordingIO logs it, plus what it returned. */
type RecordedOp = IoOp & { result?: unknown };

const ops: RecordedOp[] = [];
const recording: PlatformIO = {
  async readText(p) {
    const op: RecordedOp = { op: 'readText', path: p };
    ops.push(op);
    try { return (op.result = await liveIO.readText(p)) as string; } catch (e) { op.error = (e as { code?: string }).code; throw e; }
  },
  async readDir(p) {
    const op: RecordedOp = { op: 'readDir', path: p };
    ops.push(op);
    try { return (op.result = await liveIO.readDir(p)) as string[]; } catch (e) { op.error = (e as { code?: string }).code; throw e; }
  },
  async writeText(p, text) {
    const op: RecordedOp = { op: 'writeText', path: p, text };
    ops.push(op);
    try { await liveIO.writeText(p, text); } catch (e) { op.error = (e as { code?: string }).code; throw e; }
  },
  async exists(p) {
    const op: RecordedOp = { op: 'exists', path: p };
    ops.push(op);
    return (op.result = await liveIO.exists(p)) as boolean;
  },
};

const guest = await startSyntheticGuest({ hotMiB: 4, coldMiB: 12, node: 0, touchMs: 10, interleave: true });
const statuses: number[][] = [];
const tracker = new DamonVaddrTracker({
  io: recording,
  pageNodes: async (pid, addrs) => {
    const { native } = await import('../../../src/native/index.js');
    const s = await native.movePages(pid, addrs, null, 0);
    statuses.push(Array.from(s));
    return s;
  },
});
const loop = 5;
const intervalMs = 40;
try {
  const map = await tracker.scanCycle({ pid: guest.pid, filter: { vmFlags: ['ht'], anonOnly: false }, ignHost: false }, { loop, intervalMs });
  process.stdout.write(`${JSON.stringify({
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    pid: guest.pid, start: guest.start, pageSizeBytes: guest.pageSizeBytes, pageCount: guest.pageCount, hotPages: guest.hotPages,
    loop, intervalMs, statuses, ops, map,
  }, null, 1)}\n`);
} finally {
  await tracker.close();
  await guest.stop();
}
