/** The daemon binary serves the feed, /metrics and the live view when asked, and refuses an unsafe address. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { daemonOnce, startDaemon, uniqueSocketName } from './helpers/daemon.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

test('virt-tierd --http serves /metrics and the live view on loopback', async () => {
  const port = await freePort();
  const d = await startDaemon(['--no-libvirt', '--http', String(port)]);
  try {
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^# HELP virt_tier_/m);
    assert.match(metrics, /process_cpu_seconds_total|virt_tier_process_cpu_seconds_total/);
    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
  } finally {
    await d.stop();
  }
});

test('virt-tierd refuses a non-loopback --http without a token, naming the flag', async () => {
  const r = daemonOnce(['-s', uniqueSocketName(), '--no-libvirt', '--http', '0.0.0.0:' + (await freePort())]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /token/i);
});
