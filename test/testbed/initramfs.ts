/**
 * Builds (once, cached by content) the testbed's initramfs: static busybox,
 * the 9p modules decompressed from the kernel package, /dev/console and the
 * guest /init. Kept uncompressed: decompressing under TCG costs more than
 * reading the extra megabytes.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildCpio, type CpioEntry } from './cpio.js';
import { GUEST_INIT } from './guest-init.js';

/** Modules needed to mount the host over virtio-9p, in load order. */
export const NINEP_MODULES = [
  'kernel/fs/netfs/netfs.ko.xz',
  'kernel/net/9p/9pnet.ko.xz',
  'kernel/net/9p/9pnet_virtio.ko.xz',
  'kernel/fs/9p/9p.ko.xz',
];

export const BUSYBOX_PATH = '/bin/busybox';

/** Returns the path of the initramfs for this kernel's modules dir, building it into cacheDir when missing. */
export function ensureInitramfs(modulesDir: string, cacheDir: string): string {
  const busybox = readFileSync(BUSYBOX_PATH);
  const moduleFiles = NINEP_MODULES.map((rel) => path.join(modulesDir, rel));
  const key = createHash('sha256');
  key.update(GUEST_INIT).update(busybox);
  for (const file of moduleFiles) key.update(file).update(readFileSync(file));
  const out = path.join(cacheDir, `initramfs-${key.digest('hex').slice(0, 16)}.cpio`);
  if (existsSync(out)) return out;

  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'mnt', 'lib', 'lib/modules', 'tmp'].map((p) => ({ kind: 'dir' as const, path: p })),
    // The kernel opens /dev/console for init's stdio before init can mount devtmpfs.
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { kind: 'file', path: 'init', data: Buffer.from(GUEST_INIT), mode: 0o755 },
  ];
  for (const file of moduleFiles) {
    const name = path.basename(file, '.xz');
    const data = execFileSync('xz', ['-dc', file], { maxBuffer: 64 << 20 });
    entries.push({ kind: 'file', path: `lib/modules/${name}`, data, mode: 0o644 });
  }
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, buildCpio(entries));
  renameSync(tmp, out);
  return out;
}
