/**
 * The migration holds over procfs fixtures (MemoryIO; the live checks run
 * against real QEMU migrations in test/integration/migration-tiering.test.ts):
 * QEMU's `live_migration` thread means migrating out; `-incoming tcp:...:PORT`
 * with a socket on PORT still open means migrating in; a paused libvirt
 * domain is held; a failed libvirt listing keeps the last answer.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryIO } from '../../src/platform/io.js';
import { incomingTcpPort, MigrationHolds, socketInodesOnPort } from '../../src/virt/migration-holds.js';
import { domainSyncTicker, refreshThenResync } from '../../src/daemon/wiring.js';

const NET_TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
// port 0x1F90 = 8080: one listener (0A) and one established stream (01)
const NET_TCP = NET_TCP_HEADER +
  '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n' +
  '   1: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1\n' +
  '   2: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0\n';

function qemuFiles(pid: number, opts: { threads: string[]; argv: string[]; fds?: Record<string, string> }): Record<string, string> {
  const files: Record<string, string> = { [`/proc/${pid}/cmdline`]: opts.argv.join('\0') + '\0' };
  opts.threads.forEach((name, i) => (files[`/proc/${pid}/task/${pid + i}/comm`] = `${name}\n`));
  for (const fd of Object.keys(opts.fds ?? {})) files[`/proc/${pid}/fd/${fd}`] = '';
  return files;
}

describe('migration holds', () => {
  test('the -incoming port; sockets on a port from /proc/net/tcp', () => {
    assert.equal(incomingTcpPort(['qemu', '-m', '256', '-incoming', 'tcp:127.0.0.1:8080']), 8080);
    assert.equal(incomingTcpPort(['qemu', '-incoming', 'defer']), undefined);
    assert.equal(incomingTcpPort(['qemu', '-m', '256']), undefined);
    assert.deepEqual([...socketInodesOnPort(NET_TCP, 8080)].sort(), ['4242', '4343']);
    assert.deepEqual([...socketInodesOnPort(NET_TCP, 22)], ['999']);
  });

  test('migrating out, migrating in, paused, and nothing', async () => {
    const links: Record<string, string> = { '/proc/100/fd/3': 'socket:[4343]', '/proc/200/fd/3': 'socket:[1]', '/proc/300/fd/3': '/dev/null' };
    const io = new MemoryIO({
      '/proc/net/tcp': NET_TCP,
      '/proc/net/tcp6': NET_TCP_HEADER,
      ...qemuFiles(100, { threads: ['qemu-system-x86', 'CPU 0/TCG'], argv: ['qemu', '-incoming', 'tcp:127.0.0.1:8080'], fds: { 3: '' } }),
      ...qemuFiles(200, { threads: ['qemu-system-x86', 'CPU 0/TCG'], argv: ['qemu', '-incoming', 'tcp:127.0.0.1:8080'], fds: { 3: '' } }),
      ...qemuFiles(300, { threads: ['qemu-system-x86', 'live_migration', 'CPU 0/TCG'], argv: ['qemu', '-name', 'guest=a,debug-threads=on'], fds: { 3: '' } }),
      ...qemuFiles(400, { threads: ['qemu-system-x86'], argv: ['qemu'] }),
    });
    let listing: Array<{ pid: number | null; state: string }> | Error = [{ pid: 400, state: 'paused' }, { pid: 300, state: 'running' }, { pid: null, state: 'paused' }];
    const holds = new MigrationHolds({
      io,
      readLink: async (p) => links[p] ?? Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })),
      listDomains: async () => (listing instanceof Error ? Promise.reject(listing) : listing),
    });
    assert.equal(await holds.heldReason(300), 'migrating-out');
    assert.equal(await holds.heldReason(100), 'migrating-in', 'the stream socket on the -incoming port is still open');
    assert.equal(await holds.heldReason(200), undefined, 'its migration socket is closed: the guest runs');
    assert.equal(await holds.heldReason(400), undefined, 'libvirt not asked yet');
    await holds.refresh();
    assert.equal(await holds.heldReason(400), 'paused');
    assert.deepEqual(holds.paused(), [400]);
    listing = new Error('libvirtd restarting');
    await holds.refresh();
    assert.equal(await holds.heldReason(400), 'paused', 'a failed listing keeps the last answer');
    listing = [{ pid: 400, state: 'running' }];
    await holds.refresh();
    assert.equal(await holds.heldReason(400), undefined, 'resumed: tiered again');
    assert.equal(await holds.heldReason(999), undefined, 'a pid that is gone is not held');
  });

  test('a refresh asked for while a listing is in flight gets one more listing after it (a hook event for a domain that listing may predate)', async () => {
    const io = new MemoryIO({ ...qemuFiles(500, { threads: ['qemu-system-x86'], argv: ['qemu', '-incoming', 'defer'] }) });
    // each listing answers when the test says so, with libvirt's domains as they are at that moment
    const pending: Array<() => void> = [];
    let domains: Array<{ pid: number | null; state: string }> = [];
    let listings = 0;
    const holds = new MigrationHolds({
      io,
      listDomains: () => {
        listings++;
        const snapshot = domains;
        return new Promise((resolve) => pending.push(() => resolve(snapshot)));
      },
    });
    const timerRefresh = holds.refresh(); // the periodic refresh: libvirt has no such domain yet
    domains = [{ pid: 500, state: 'paused' }]; // an incoming migration's domain starts, paused
    const onHookEvent = holds.refresh(); // the qemu hook's started/migrate event
    const onSecondEvent = holds.refresh();
    assert.equal(listings, 1, 'one listing at a time');
    pending.shift()!();
    await timerRefresh;
    assert.equal(await holds.heldReason(500), undefined, 'the first listing predates the domain');
    assert.equal(listings, 2, 'the calls made during the first listing share one more');
    pending.shift()!();
    await Promise.all([onHookEvent, onSecondEvent]);
    assert.equal(await holds.heldReason(500), 'paused', 'the refresh asked for on the event saw the domain');
    assert.equal(listings, 2);
  });
  test('after a hook event the resync that adds the project starts only once the holds saw the paused guest', async () => {
    const io = new MemoryIO({ ...qemuFiles(600, { threads: ['qemu-system-x86'], argv: ['qemu', '-incoming', 'defer'] }) });
    let answer: (() => void) | undefined;
    const holds = new MigrationHolds({ io, listDomains: () => new Promise((resolve) => (answer = () => resolve([{ pid: 600, state: 'paused' }]))) });
    const seenAtResync: Array<string | undefined> = [];
    const sync = { resync: async () => void seenAtResync.push(await holds.heldReason(600)) };
    const done = refreshThenResync(holds, sync);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seenAtResync, [], 'no resync while the listing is out');
    answer!();
    await done;
    assert.deepEqual(seenAtResync, ['paused'], 'the task the resync adds is held from its first round');
    // libvirtd down: the listing fails, the last answer stays, and the resync still runs
    const failing = new MigrationHolds({ io, listDomains: () => Promise.reject(new Error('libvirtd gone')) });
    let resyncs = 0;
    await refreshThenResync(failing, { resync: async () => void resyncs++ });
    assert.equal(resyncs, 1);
  });
  test('the periodic sync refreshes the holds before its resync, and a tick while one runs shares it', async () => {
    const io = new MemoryIO({ ...qemuFiles(700, { threads: ['qemu-system-x86'], argv: ['qemu', '-incoming', 'defer'] }) });
    let answer: (() => void) | undefined;
    let listings = 0;
    const holds = new MigrationHolds({ io, listDomains: () => new Promise((resolve) => { listings++; answer = () => resolve([{ pid: 700, state: 'paused' }]); }) });
    const seenAtResync: Array<string | undefined> = [];
    const ticker = domainSyncTicker(holds, { resync: async () => void seenAtResync.push(await holds.heldReason(700)) });
    ticker.tick();
    ticker.tick();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seenAtResync, [], 'no resync while the listing is out');
    answer!();
    await ticker.idle();
    assert.deepEqual(seenAtResync, ['paused'], 'a task the timer adds is held from its first round; the second tick shared the first');
    assert.equal(listings, 1);
  });
});
