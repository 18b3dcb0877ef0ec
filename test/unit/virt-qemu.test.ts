/** QEMU command lines and smaps of guests started by this host's libvirt 9.0 / QEMU 7.2 (fixture), and hand-written older forms. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseKeyValueOpts, parseQemuCmdline, parseQemuSize, splitCmdline } from '../../src/virt/qemu-cmdline.js';
import { matchRamBlocks } from '../../src/virt/qemu-process.js';
import { parseSmaps } from '../../src/platform/smaps.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/libvirt');
const read = (f: string): string => readFileSync(path.join(fixtures, f), 'utf8');

test('fixture: a guest without NUMA cells has one RAMBlock pc.ram on hugetlbfs', () => {
  const cmd = parseQemuCmdline(splitCmdline(read('qemu-pcram.cmdline')));
  assert.match(cmd.guestName!, /^vt-test-fx-/);
  assert.equal(cmd.ramBackends.length, 1);
  assert.equal(cmd.ramBackends[0]!.id, 'pc.ram');
  assert.equal(cmd.ramBackends[0]!.sizeBytes, 128 << 20);
  assert.equal(cmd.memoryBytes, 128 << 20);
  const blocks = matchRamBlocks(cmd.ramBackends, parseSmaps(read('qemu-pcram.smaps')));
  assert.ok(blocks[0]!.vma, 'pc.ram VMA found');
  assert.equal(blocks[0]!.vma!.hugetlb, true);
  assert.equal(blocks[0]!.vma!.end - blocks[0]!.vma!.start, 128 << 20);
  assert.match(blocks[0]!.vma!.pathname, /qemu_back_mem\.pc\.ram\./);
});

test('fixture: guest NUMA cells give ram-node0/ram-node1 with their guest node', () => {
  const cmd = parseQemuCmdline(splitCmdline(read('qemu-numa2.cmdline')));
  assert.deepEqual(cmd.ramBackends.map((b) => [b.id, b.guestNode, b.sizeBytes]), [
    ['ram-node0', 0, 64 << 20],
    ['ram-node1', 1, 64 << 20],
  ]);
  const blocks = matchRamBlocks(cmd.ramBackends, parseSmaps(read('qemu-numa2.smaps')));
  assert.ok(blocks.every((b) => b.vma?.hugetlb && b.vma.pathname.includes(`qemu_back_mem.${b.id}.`)));
  assert.notEqual(blocks[0]!.vma!.start, blocks[1]!.vma!.start);
});

test('key=value -object form, ,, escapes, host-nodes, sizes with suffixes', () => {
  assert.deepEqual(parseKeyValueOpts('memory-backend-file,id=a,,b,size=1G'), { '': 'memory-backend-file', id: 'a,b', size: '1G' });
  assert.equal(parseQemuSize('512M'), 512 << 20);
  assert.equal(parseQemuSize('196608k'), 196608 * 1024);
  assert.equal(parseQemuSize('x'), undefined);
  const cmd = parseQemuCmdline([
    'qemu', '-name', 'guest=old,debug-threads=on', '-m', '2048',
    '-object', 'memory-backend-ram,id=ram-node0,size=1024M,host-nodes=0-1,policy=bind',
    '-object', 'memory-backend-memfd,id=ram-node1,size=1G,share=yes',
    '-numa', 'node,nodeid=0,cpus=0,memdev=ram-node0', '-numa', 'node,nodeid=1,cpus=1,memdev=ram-node1',
  ]);
  assert.equal(cmd.guestName, 'old');
  assert.equal(cmd.memoryBytes, 2048 * 2 ** 20);
  assert.deepEqual(cmd.ramBackends[0], { id: 'ram-node0', qomType: 'memory-backend-ram', sizeBytes: 1 << 30, hostNodes: [0, 1], guestNode: 0 });
  assert.equal(cmd.ramBackends[1]!.share, true);
  // anonymous RAM matches by exact size, memfd by name
  const smaps = parseSmaps(
    '7f0000000000-7f0040000000 rw-p 00000000 00:00 0 \nVmFlags: rd wr\n' + '7f1000000000-7f1040000000 rw-s 00000000 00:01 5 /memfd:ram-node1 (deleted)\nVmFlags: rd wr sh\n',
  );
  const blocks = matchRamBlocks(cmd.ramBackends, smaps);
  assert.equal(blocks[0]!.vma!.start, 0x7f0000000000);
  assert.equal(blocks[1]!.vma!.start, 0x7f1000000000);
});

test('memfd RAM as QEMU 7.2 names it (/memfd:memory-backend-memfd, hugetlb) matches by size', () => {
  const cmd = parseQemuCmdline([
    'qemu', '-name', 'guest=m,debug-threads=on', '-m', '64',
    '-object', '{"qom-type":"memory-backend-memfd","id":"pc.ram","hugetlb":true,"hugetlbsize":2097152,"share":true,"size":67108864}',
  ]);
  const smaps = parseSmaps(
    '7f2000000000-7f2000200000 rw-s 00000000 00:0f 7 /memfd:memory-backend-memfd (deleted)\nVmFlags: rd wr sh ht\n' +
      '7f3000000000-7f3004000000 rw-s 00000000 00:0f 9 /memfd:memory-backend-memfd (deleted)\nVmFlags: rd wr sh ht\n',
  );
  const blocks = matchRamBlocks(cmd.ramBackends, smaps);
  assert.equal(blocks[0]!.vma!.start, 0x7f3000000000, 'the 64 MiB one, not the 2 MiB memfd before it');
  assert.equal(blocks[0]!.vma!.hugetlb, true);
});

test('pidfile lookup: the PID must be the named guest\'s QEMU; names never leave the run directory', async () => {
  const { MemoryIO } = await import('../../src/platform/io.js');
  const { findQemuProcess } = await import('../../src/virt/qemu-process.js');
  const cmdline = ['/usr/bin/qemu-system-x86_64', '-name', 'guest=vm1,debug-threads=on', '-m', '128'].join('\0') + '\0';
  const io = new MemoryIO({ '/run/libvirt/qemu/vm1.pid': '4242\n', '/proc/4242/cmdline': cmdline, '/run/libvirt/qemu/vm2.pid': '4242', '/etc/x.pid': '4242' });
  assert.equal((await findQemuProcess('vm1', io))?.pid, 4242);
  assert.equal(await findQemuProcess('vm2', io), null, 'stale pidfile: PID belongs to another guest');
  assert.equal(await findQemuProcess('vm3', io), null, 'no pidfile');
  assert.equal(await findQemuProcess('../../../etc/x', io), null);
});
