/**
 * VirtConnection's handle rules, over handles that count their closes
 * (libvirtd itself is in test/integration/libvirt-*.test.ts and the
 * testbed's libvirtd restart): a reset never closes a handle another call
 * is using (libvirt leaves that to the caller; the binding runs calls on
 * threadpool threads), it closes it once the last call settles; an open
 * under way when a reset comes is not kept; a close that never answers
 * does not hold the reset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Hypervisor } from '@unraid/libvirt';
import { VirtConnection } from '../../src/virt/connection.js';

interface CountingHandle {
  hv: Hypervisor;
  closes: number;
}

function handle(close: () => Promise<void> = async () => undefined): CountingHandle {
  const h: CountingHandle = { hv: undefined as unknown as Hypervisor, closes: 0 };
  h.hv = { connectClose: async () => { h.closes++; await close(); } } as unknown as Hypervisor;
  return h;
}

/** A connection whose every open makes a fresh counting handle, kept in `handles` in open order. */
function countingConnection(): { conn: VirtConnection; handles: CountingHandle[] } {
  const handles: CountingHandle[] = [];
  const conn = new VirtConnection('qemu:///system', async () => {
    const h = handle();
    handles.push(h);
    return h.hv;
  });
  return { conn, handles };
}

test('a reset while a call uses the handle closes it only when that call settles; the next call gets a new handle', async () => {
  const { conn, handles } = countingConnection();
  let release!: () => void;
  let ran = 0;
  const held = conn.use(() => new Promise<string>((resolve) => (release = () => resolve('answered'))));
  await new Promise((r) => setImmediate(r));
  assert.equal(handles.length, 1);
  // calls run one at a time: the next waits its turn, and one given up before its turn never runs
  const givenUp = new AbortController();
  const dropped = conn.use(async () => ran++, givenUp.signal);
  const behind = conn.use(async (hv) => hv);
  await new Promise((r) => setImmediate(r));
  assert.equal(ran, 0, 'behind the call under way');
  givenUp.abort();
  await conn.reset();
  assert.equal(handles[0]!.closes, 0, 'not closed under the call');
  // after the reset, a call has a queue and a handle of its own: it does not wait for the call under way
  const next = conn.use(async (hv) => {
    ran++;
    return hv === handles[1]!.hv;
  });
  assert.equal(await next, true, 'after the reset, a handle of its own, while the call before it is still under way');
  assert.equal(ran, 1);
  release();
  assert.equal(await held, 'answered');
  await assert.rejects(dropped, /given up before its turn/);
  assert.equal(await behind, handles[1]!.hv, 'a call queued before the reset runs after the call under way, on the open handle');
  assert.equal(ran, 1);
  assert.equal(handles.length, 2);
  assert.equal(handles[0]!.closes, 1, 'closed once its call settled');
  assert.equal(handles[1]!.closes, 0, 'the new handle stays open');
  // no call in flight: a reset closes at once
  await conn.reset();
  assert.equal(handles[1]!.closes, 1);
});

test('a call that never settles holds only the calls queued before the next reset; a second reset while it is still under way keeps the queue (at most two calls in libvirt)', async () => {
  const { conn, handles } = countingConnection();
  let inLibvirt = 0;
  let most = 0;
  const stuckCall = () => new Promise<never>(() => {
    inLibvirt++;
    most = Math.max(most, inLibvirt);
  });
  // a lookup in flight when libvirtd went away, spinning in libvirt's client for good
  void conn.use(stuckCall);
  await new Promise((r) => setImmediate(r));
  // its deadline passes: the caller resets the connection (src/virt/discovery.ts withConnection)
  await conn.reset();
  // libvirtd is back: the next call answers
  assert.equal(await conn.use(async (hv) => hv), handles[1]!.hv);
  // a second call that never settles, and a second reset while the first is still under way
  void conn.use(stuckCall);
  await new Promise((r) => setImmediate(r));
  await conn.reset();
  let ran = false;
  void conn.use(async () => (ran = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ran, false, 'queued behind the second stuck call: a third thread is not given to libvirt');
  assert.equal(most, 2);
  assert.equal(handles[0]!.closes, 0, 'a handle under a call that never settled is never closed under it');
});

test('an open under way when a reset comes is closed, not kept; a close that never answers does not hold the reset', async () => {
  const handles: CountingHandle[] = [];
  let finishOpen!: () => void;
  const conn = new VirtConnection('qemu:///system', async () => {
    const h = handle(() => new Promise<void>(() => undefined)); // libvirtd that never answers the close
    handles.push(h);
    if (handles.length === 1) await new Promise<void>((resolve) => (finishOpen = resolve));
    return h.hv;
  });
  const first = conn.get();
  await new Promise((r) => setImmediate(r));
  await conn.reset();
  finishOpen();
  await assert.rejects(first, (err: Error & { code?: string }) => err.code === 'OPT_UNAVAILABLE' && /reset while it opened/.test(err.message));
  assert.equal(handles[0]!.closes, 1, 'the late handle is closed');
  assert.equal(await conn.get(), handles[1]!.hv, 'the next get opens anew');
  const t0 = Date.now();
  await conn.reset();
  assert.equal(handles[1]!.closes, 1);
  assert.ok(Date.now() - t0 < 10_000, 'the reset gave up waiting on the close');
});
