/**
 * domainPidResolver while libvirtd cannot be reached or does not answer: a guest libvirt
 * named before is found through its pid file and checked against the real
 * process's command line (name and UUID). libvirt itself is a stand-in
 * here (handles that answer two lookups, fail as a stopped libvirtd's do,
 * or never answer) behind a real VirtConnection; the processes, pid files
 * and /proc reads are real. The
 * real outage is in the testbed: test/testbed/libvirt-lifecycle.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Hypervisor } from '@unraid/libvirt';
import { VirtConnection } from '../../src/virt/connection.js';
import { domainPidResolver } from '../../src/virt/discovery.js';

const UUID = '7e570000-0000-4000-8000-0000000000a1';
const OTHER_UUID = '7e570000-0000-4000-8000-0000000000b2';

/** A process whose command line reads like libvirt's QEMU for `name` (bash keeps its argv while it waits on sleep). */
function fakeQemu(name: string, uuid: string): ChildProcess {
  return spawn('bash', ['-c', 'sleep 600; :', 'qemu-system-x86_64', '-name', `guest=${name},debug-threads=on`, '-uuid', uuid], { stdio: 'ignore' });
}

async function waitCmdline(pid: number, needle: string): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  for (let i = 0; i < 200; i++) {
    if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(needle)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`pid ${pid} never showed ${needle}`);
}

/**
 * libvirt as the resolver sees it, behind a real VirtConnection (its queue,
 * resets and reopens run as in the daemon): up (it knows `domains`, uuid ->
 * name), down (what a stopped libvirtd answers: the open is refused, a call
 * on a handle opened before fails), or hung (it takes calls and opens and
 * never answers).
 */
class StandInConnection extends VirtConnection {
  up = true;
  hung = false;
  constructor(readonly domains: Map<string, string>) {
    super('qemu:///system', async () => {
      if (this.hung) return new Promise<Hypervisor>(() => undefined);
      if (!this.up) throw new Error("Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory");
      return this.handle();
    });
  }
  private handle(): Hypervisor {
    const answer = async <T>(value: () => T): Promise<T> => {
      if (this.hung) return new Promise<T>(() => undefined);
      if (!this.up) throw new Error('Cannot recv data: Connection reset by peer');
      return value();
    };
    const lookup = (value: string): Promise<unknown> => answer(() => {
      const name = this.domains.get(value) ?? [...this.domains.values()].find((n) => n === value);
      if (name === undefined) throw new Error(`Domain not found: no domain with matching uuid '${value}'`);
      return { name };
    });
    return {
      domainLookupByUUIDString: lookup,
      domainLookupByName: lookup,
      domainGetName: (dom: { name: string }) => answer(() => dom.name),
      connectClose: async () => undefined,
    } as unknown as Hypervisor;
  }
}

test('domainPidResolver while libvirtd is down: the guest libvirt last named, through its pid file and command line; never a process whose name or UUID differ', async (t) => {
  const runDir = mkdtempSync(path.join(tmpdir(), 'vt-pidfile-'));
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(runDir, { recursive: true, force: true });
  });
  const guest = fakeQemu('vt-a', UUID);
  children.push(guest);
  await waitCmdline(guest.pid!, 'guest=vt-a');
  writeFileSync(path.join(runDir, 'vt-a.pid'), `${guest.pid}\n`);

  const connection = new StandInConnection(new Map([[UUID, 'vt-a']]));
  const resolve = domainPidResolver(connection, { runDir });
  assert.equal(await resolve(UUID), guest.pid, 'libvirt up: its name, then the pid file');

  connection.up = false;
  assert.equal(await resolve(UUID), guest.pid, 'libvirt down: the name it gave last time, the same process');
  // libvirtd that never answers (its own connection: a hung call holds the queue of calls for good):
  // the lookup gives up at its deadline and the pid file answers; so does a lookup queued behind it.
  const hungConnection = new StandInConnection(new Map([[UUID, 'vt-a']]));
  const hungResolve = domainPidResolver(hungConnection, { runDir, timeoutMs: 50 });
  assert.equal(await hungResolve(UUID), guest.pid, 'libvirt up: named');
  hungConnection.hung = true;
  assert.equal(await hungResolve(UUID), guest.pid, 'libvirt hung: the pid file, after the deadline');
  assert.equal(await hungResolve(UUID), guest.pid, 'queued behind the hung call: the pid file, after the deadline');
  assert.equal(await resolve(OTHER_UUID), null, 'libvirt down: a value it never named resolves to nothing');

  // The pid file now names a process that says it is vt-a but has another UUID: not our guest.
  const impostor = fakeQemu('vt-a', OTHER_UUID);
  children.push(impostor);
  await waitCmdline(impostor.pid!, OTHER_UUID);
  writeFileSync(path.join(runDir, 'vt-a.pid'), `${impostor.pid}\n`);
  assert.equal(await resolve(UUID), null, 'a -uuid that differs from the task value');
  // A process that is not that guest at all.
  writeFileSync(path.join(runDir, 'vt-a.pid'), `${process.pid}\n`);
  assert.equal(await resolve(UUID), null, 'a pid file naming a process that is not the guest');

  // The guest dies while libvirtd is down: its pid file stays, its process is gone.
  writeFileSync(path.join(runDir, 'vt-a.pid'), `${guest.pid}\n`);
  assert.equal(await resolve(UUID), guest.pid);
  const exited = new Promise((r) => guest.once('exit', r));
  guest.kill('SIGKILL');
  await exited;
  assert.equal(await resolve(UUID), null, 'a stale pid file');

  // libvirt back, the domain undefined meanwhile: "not found" forgets the name, so a later outage finds nothing.
  const again = fakeQemu('vt-a', UUID);
  children.push(again);
  await waitCmdline(again.pid!, 'guest=vt-a');
  writeFileSync(path.join(runDir, 'vt-a.pid'), `${again.pid}\n`);
  const gone = new StandInConnection(new Map());
  const resolveGone = domainPidResolver(gone, { runDir });
  const known = new StandInConnection(new Map([[UUID, 'vt-a']]));
  const resolveKnown = domainPidResolver(known, { runDir });
  assert.equal(await resolveKnown(UUID), again.pid);
  assert.equal(await resolveGone(UUID), null, 'libvirt says no such domain');
  gone.up = false;
  assert.equal(await resolveGone(UUID), null, 'never named: nothing while down');
  known.domains.delete(UUID);
  assert.equal(await resolveKnown(UUID), null, 'undefined meanwhile');
  known.up = false;
  assert.equal(await resolveKnown(UUID), null, 'forgotten once libvirt said not found');
});
