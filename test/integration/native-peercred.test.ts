import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { native } from '../../src/native/index.js';

test('getPeerCred reports this process as the peer of its own connection; bad fd is TypeError ERR_INVALID_ARG', async () => {
  const name = `\0virt-tier-peercred-test-${process.pid}`;
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(name, resolve));
  const client = net.connect(name);
  try {
    const sock = await accepted;
    const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    const cred = native.getPeerCred(fd);
    assert.deepEqual(cred, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    sock.destroy();
  } finally {
    client.destroy();
    server.close();
  }
  assert.throws(() => native.getPeerCred(-1), (e: unknown) => e instanceof TypeError && (e as { code?: string }).code === 'ERR_INVALID_ARG');
});
