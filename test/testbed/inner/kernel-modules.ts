/**
 * Inside the testbed: loading the testbed kernel's own modules. They ship
 * xz-compressed in .cache/kernel/lib/modules/<release>/; the chroot's
 * /lib/modules is the host's, so modprobe cannot find them: each is
 * decompressed to /tmp and loaded with busybox insmod, in the order given
 * (dependencies first; the cache has no modules.dep).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './e2e-daemon.js';

/** Loads each module (a path under kernel/ without .ko.xz) not loaded yet; `params` by module name. */
export function loadModules(modules: readonly string[], params: Record<string, string[]> = {}): void {
  const modDir = path.join(REPO_ROOT, '.cache', 'kernel', 'lib', 'modules', release(), 'kernel');
  for (const mod of modules) {
    const name = path.basename(mod);
    if (existsSync(`/sys/module/${name}`)) continue;
    const xz = path.join(modDir, `${mod}.ko.xz`);
    if (!existsSync(xz)) throw new Error(`${name}: ${xz} missing (run scripts/fetch-kernel.sh)`);
    const ko = `/tmp/${name}.ko`;
    writeFileSync(ko, execFileSync('xz', ['-dc', xz], { maxBuffer: 64 << 20 }));
    // busybox's insmod: the host root (the chroot) may have no kmod.
    execFileSync('/bin/busybox', ['insmod', ko, ...(params[name] ?? [])]);
  }
}
