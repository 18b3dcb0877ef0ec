/**
 * Inside the testbed: the NIC of the harness's `hostForward` option (QEMU's
 * user network, virtio-net; the kernel has it as a module) brought up as
 * 10.0.2.15/24, and a TCP relay from 10.0.2.15:guestPort to a loopback
 * listener inside, so the host reaches a service that listens on
 * 127.0.0.1 only (the daemon's --http refuses other addresses without a
 * token) through QEMU's forward of the host's 127.0.0.1:hostPort.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { loadModules } from './kernel-modules.js';

/** virtio_net and what it needs, in load order (paths under kernel/). */
const NIC_MODULES = ['net/core/failover', 'drivers/net/net_failover', 'drivers/net/virtio_net'];
export const GUEST_ADDR = '10.0.2.15';

function ip(...args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: 'ignore' });
  } catch {
    execFileSync('busybox', ['ip', ...args], { stdio: 'ignore' });
  }
}

/** Loads virtio_net and brings its interface up as GUEST_ADDR; returns the interface's name. */
export async function bringUpNic(): Promise<string> {
  loadModules(NIC_MODULES);
  // No udev here: the kernel names it (eth0), once the driver has probed the PCI device.
  let name: string | undefined;
  for (let i = 0; i < 100 && name === undefined; i++) {
    name = readdirSync('/sys/class/net').find((n) => n !== 'lo' && existsSync(`/sys/class/net/${n}/device`));
    if (name === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  if (name === undefined) throw new Error('guest-net: no network interface after loading virtio_net (was the harness run with hostForward?)');
  ip('link', 'set', 'lo', 'up');
  ip('link', 'set', name, 'up');
  ip('addr', 'add', `${GUEST_ADDR}/24`, 'dev', name);
  return name;
}

/** Relays GUEST_ADDR:listenPort to 127.0.0.1:targetPort; resolves once listening. */
export function relay(listenPort: number, targetPort: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, GUEST_ADDR, () => resolve(server));
  });
}
