/**
 * The domain listings (the daemon's, and the CLI's `list --all`) ask libvirt one call at a time: each
 * binding call holds a libuv threadpool thread until libvirtd answers, so
 * a listing with several calls in flight, on a libvirtd that stopped
 * answering, would hold every thread of the pool and stall the daemon's
 * file reads. libvirt is a stand-in here (handles that count their calls in
 * flight and answer after a tick) behind a real VirtConnection; the QEMU
 * pid-file directory is a real, empty one (no process is looked up).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Hypervisor } from '@unraid/libvirt';
import { VirtConnection } from '../../src/virt/connection.js';
import { listAllDomains, listRunningDomains } from '../../src/virt/discovery.js';

test('listRunningDomains and listAllDomains have one libvirt call in flight at a time (libvirt stand-in that counts calls)', async (t) => {
  const runDir = mkdtempSync(path.join(tmpdir(), 'vt-onecall-'));
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  let inFlight = 0;
  let most = 0;
  let calls = 0;
  // Each call answers after a timer, so calls issued together would overlap.
  const answer = <T>(value: T): Promise<T> => {
    inFlight++;
    calls++;
    most = Math.max(most, inFlight);
    return new Promise((resolve) =>
      setTimeout(() => {
        inFlight--;
        resolve(value);
      }, 2),
    );
  };
  const doms = [{ name: 'vm-b', uuid: '7e570000-0000-4000-8000-0000000000b1' }, { name: 'vm-a', uuid: '7e570000-0000-4000-8000-0000000000a1' }];
  const hv = {
    connectListAllDomains: () => answer(doms),
    domainGetName: (d: { name: string }) => answer(d.name),
    domainGetUUIDString: (d: { uuid: string }) => answer(d.uuid),
    domainGetID: () => answer(7),
    domainGetInfo: () => answer({ state: 1, memory: 131072 }),
    domainGetXMLDesc: (d: { name: string }) => answer(`<domain type='qemu'><name>${d.name}</name></domain>`),
    connectClose: async () => undefined,
  } as unknown as Hypervisor;
  const connection = new VirtConnection('qemu:///system', async () => hv);

  const listed = await listRunningDomains({ connection, runDir });
  assert.deepEqual(listed.map((d) => [d.name, d.uuid, d.state, d.memoryBytes, d.pid]), [
    ['vm-a', doms[1]!.uuid, 'running', 128 * 2 ** 20, null],
    ['vm-b', doms[0]!.uuid, 'running', 128 * 2 ** 20, null],
  ]);
  // one listing and five lookups per domain
  assert.equal(calls, 1 + 5 * doms.length);
  assert.equal(most, 1, 'libvirt calls in flight at once');

  // the CLI's `list --all` listing, on the same stand-in
  calls = 0;
  const all = await listAllDomains({ connection });
  assert.deepEqual(all.map((d) => [d.name, d.uuid, d.active]), [
    ['vm-a', doms[1]!.uuid, true],
    ['vm-b', doms[0]!.uuid, true],
  ]);
  // one listing and four lookups per domain
  assert.equal(calls, 1 + 4 * doms.length);
  assert.equal(most, 1, 'libvirt calls in flight at once (list --all)');
});
