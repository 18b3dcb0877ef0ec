/**
 * `virt-tier install-hook [--socket NAME] [--hooks-dir DIR] [--uninstall]`:
 * installs hooks/qemu for libvirtd. libvirt >= 6.5 runs every executable
 * in /etc/libvirt/hooks/qemu.d/ (src/util/virhook.c), so the hook goes
 * there as `virt-tier` and coexists with other hooks; older libvirt only
 * runs /etc/libvirt/hooks/qemu, which is written only when absent or ours
 * (never clobbered). libvirtd looks for hooks at start: it must be
 * restarted to see a new one.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP_OPTION, usageError } from './options.js';
import { defineVerb } from './verb.js';
import { checkSocketName } from '../api/protocol.js';
import { VirtTierError } from '../errors.js';

/** The marker that tells our hook from someone else's. */
export const HOOK_MARKER = "virt-tier's libvirt qemu hook";
export const DEFAULT_HOOKS_DIR = '/etc/libvirt/hooks';
export const HOOK_CONF = '/etc/virt-tier/hook.conf';

/** The virt-tier install this module runs from: the directory holding dist/ and hooks/. */
export function installRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
}

/** libvirt's version as [major, minor, micro] from `libvirtd --version`, or undefined. */
export function libvirtVersion(): [number, number, number] | undefined {
  try {
    const out = execFileSync('libvirtd', ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /(\d+)\.(\d+)\.(\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
  } catch {
    return undefined;
  }
}

/** qemu.d/ hook directories arrived in libvirt 6.5.0. */
export function supportsHookDir(version: [number, number, number] | undefined): boolean {
  if (!version) return false;
  const [major, minor] = version;
  return major > 6 || (major === 6 && minor >= 5);
}

/** The hook's text: self-contained (it loads no virt-tier module), so the installed copy needs nothing around it. */
export function hookText(root: string): string {
  const source = readFileSync(path.join(root, 'hooks/qemu'), 'utf8');
  if (!source.includes(HOOK_MARKER)) throw new VirtTierError('OPT_INTER_ERR', `${root}/hooks/qemu is not virt-tier's hook`);
  return source;
}

export interface InstallResult {
  path: string;
  replaced: boolean;
}

/** Installs the hook; returns where. Throws OPT_INVAL rather than overwrite a foreign /etc/libvirt/hooks/qemu. */
export function installHook(opts: { hooksDir?: string; root?: string; useHookDir?: boolean } = {}): InstallResult {
  const hooksDir = opts.hooksDir ?? DEFAULT_HOOKS_DIR;
  const root = opts.root ?? installRoot();
  const useDir = opts.useHookDir ?? supportsHookDir(libvirtVersion());
  const target = useDir ? path.join(hooksDir, 'qemu.d', 'virt-tier') : path.join(hooksDir, 'qemu');
  let replaced = false;
  if (existsSync(target)) {
    const existing = readFileSync(target, 'utf8');
    if (!existing.includes(HOOK_MARKER)) {
      throw new VirtTierError('OPT_INVAL', `${target} exists and is not virt-tier's hook: not overwriting it. This libvirt has no qemu.d/ hook directory; merge the hooks by hand (call ${root}/hooks/qemu from yours with the same arguments and stdin)`, {
        field: 'hook',
        value: target,
        allowed: 'an absent hook or virt-tier\'s own',
      });
    }
    replaced = true;
  }
  mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  const tmp = `${target}.virt-tier.${process.pid}.tmp`;
  writeFileSync(tmp, hookText(root), { mode: 0o755 });
  renameSync(tmp, target);
  return { path: target, replaced };
}

/** Removes our hook (from qemu.d/ and/or hooks/qemu, only when it is ours); returns the paths removed. */
export function uninstallHook(hooksDir = DEFAULT_HOOKS_DIR): string[] {
  const removed: string[] = [];
  for (const p of [path.join(hooksDir, 'qemu.d', 'virt-tier'), path.join(hooksDir, 'qemu')]) {
    if (existsSync(p) && readFileSync(p, 'utf8').includes(HOOK_MARKER)) {
      unlinkSync(p);
      removed.push(p);
    }
  }
  return removed;
}

/** Writes the hook's socket name to the config file the hook reads (libvirtd runs hooks with a scrubbed environment). */
export function writeHookConf(socket: string, confPath = HOOK_CONF): void {
  checkSocketName(socket, '--socket');
  mkdirSync(path.dirname(confPath), { recursive: true, mode: 0o755 });
  writeFileSync(confPath, `# virt-tier qemu hook: the virt-tierd socket to send events to\nsocket=${socket}\n`, { mode: 0o644 });
}

const USAGE = `Usage: virt-tier install-hook [--socket NAME] [--hooks-dir DIR] [--uninstall]
  Installs virt-tier's qemu hook for libvirtd (${DEFAULT_HOOKS_DIR}/qemu.d/virt-tier on libvirt >= 6.5,
  else ${DEFAULT_HOOKS_DIR}/qemu when that file is absent). libvirtd must be restarted to see it.
  --socket     the virt-tierd socket the hook calls (written to ${HOOK_CONF}; default virt-tier)
  --hooks-dir  libvirt's hooks directory (default ${DEFAULT_HOOKS_DIR})
  --uninstall  remove the hook (only virt-tier's own)`;

export const command = defineVerb({
  name: 'install-hook',
  summary: 'install the libvirt qemu hook that tells virt-tierd about guest starts and stops',
  usage: USAGE,
  options: [
    HELP_OPTION,
    // not SOCKET_OPTION: this is the socket the hook will call (value NAME); the verb itself never calls the daemon
    { key: 'socket', short: '-s', long: '--socket', takesValue: true, valueName: 'NAME' },
    { key: 'hooksDir', long: '--hooks-dir', takesValue: true, valueName: 'DIR' },
    { key: 'uninstall', long: '--uninstall', takesValue: false },
  ],
  async run(_action, opts, io) {
    const hooksDir = typeof opts.values.hooksDir === 'string' ? opts.values.hooksDir : DEFAULT_HOOKS_DIR;
    if (!path.isAbsolute(hooksDir)) throw usageError('--hooks-dir must be an absolute path', '--hooks-dir', hooksDir, 'an absolute path');
    if (opts.values.uninstall) {
      const removed = uninstallHook(hooksDir);
      io.out(removed.length > 0 ? `Removed ${removed.join(', ')}. Restart libvirtd to stop calling it.\n` : 'No virt-tier hook installed.\n');
      return 0;
    }
    if (typeof opts.values.socket === 'string') writeHookConf(opts.values.socket);
    const result = installHook({ hooksDir });
    io.out(`${result.replaced ? 'Updated' : 'Installed'} ${result.path}. Restart libvirtd so it sees the hook (e.g. systemctl restart libvirtd).\n`);
    return 0;
  },
});
