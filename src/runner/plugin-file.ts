/**
 * Reads a thirdparty plugin's bytes so that what the daemon runs is what it
 * checked. The daemon runs the plugin as root, so an unprivileged user must
 * not be able to change which bytes those are, even by racing the checks:
 *
 * - every directory on the way to the file, as written and with symlinks
 *   resolved, is a directory owned by root that nobody else can write, or a
 *   root-owned sticky one such as /tmp (others cannot rename root's entries
 *   there); so once checked, no unprivileged user can change what the path
 *   names (a renameat2(RENAME_EXCHANGE) in a world-writable directory was
 *   the attack);
 * - the file is opened once, with O_NOFOLLOW, and the open descriptor is
 *   checked (fstat: a regular file, owned by root, without g+w and o+w);
 * - its content is read from that descriptor, and only those bytes are
 *   loaded (src/runner/plugin-host.ts); the path is never resolved again.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { VirtTierError } from '../errors.js';

/** A plugin larger than this is refused: a JS engine module is kilobytes. */
export const PLUGIN_MAX_BYTES = 4 * 1024 * 1024;

export interface PluginFile {
  /** the path the bytes were read from (directories resolved) */
  realPath: string;
  source: Buffer;
}

function unsafe(field: string, value: string, why: string, allowed: string): VirtTierError {
  return new VirtTierError('OPT_INVAL', `${field}: ${why}`, { field, value, allowed });
}

/** Whether a directory's entries can only be changed by root. */
function dirIsSafe(st: { uid: number; mode: number }): boolean {
  if (st.uid !== 0) return false;
  if ((st.mode & 0o022) === 0) return true;
  // Sticky: others may add entries but never rename or remove root's.
  return (st.mode & 0o1000) !== 0;
}

/** Checks the directories and reads the plugin through one O_NOFOLLOW descriptor. */
export function readPluginFile(libname: string, field: string): PluginFile {
  const allowed = 'an absolute path to a regular file owned by root, mode without g+w and o+w, in directories only root can change';
  if (!path.isAbsolute(libname)) {
    throw unsafe(field, libname, `must be an absolute path, got ${JSON.stringify(libname)}`, allowed);
  }
  let dir: string;
  try {
    dir = realpathSync(path.dirname(libname));
  } catch (err) {
    throw unsafe(field, libname, `cannot resolve the directory of ${libname}: ${(err as NodeJS.ErrnoException).code}`, allowed);
  }
  const checkAncestors = (from: string, stat: (d: string) => Stats | undefined): void => {
    for (let d = from; ; d = path.dirname(d)) {
      const st = stat(d);
      if (!st || !st.isDirectory()) {
        throw unsafe(field, libname, `${d} (on the way to ${libname}) is not a directory`, allowed);
      }
      if (!dirIsSafe(st)) {
        throw unsafe(field, libname, `directory ${d} can be changed by users other than root (uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}); the daemon runs the plugin as root, so no other user may be able to swap it`, allowed);
      }
      if (d === path.dirname(d)) return;
    }
  };
  // Every ancestor of the resolved directory, itself included: what open(2) walks.
  checkAncestors(dir, (d) => lstatSync(d, { throwIfNoEntry: false }));
  // The path as written, too: a symlink in a directory others can change
  // would let them choose which root-owned directory the path names.
  checkAncestors(path.dirname(libname), (d) => statSync(d, { throwIfNoEntry: false }));
  const realPath = path.join(dir, path.basename(libname));
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted in place of the file must not hang the daemon in open(2).
    fd = openSync(realPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? `${libname} is a symbolic link` : `cannot open ${libname}: ${code}`;
    throw unsafe(field, libname, why, allowed);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw unsafe(field, libname, `${libname} is not a regular file`, allowed);
    if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
      throw unsafe(field, libname, `${libname} must be owned by root and not writable by group or others (uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`, allowed);
    }
    if (st.size > PLUGIN_MAX_BYTES) {
      throw unsafe(field, libname, `${libname} is ${st.size} bytes; allowed: at most ${PLUGIN_MAX_BYTES}`, allowed);
    }
    return { realPath, source: readFileSync(fd) };
  } finally {
    closeSync(fd);
  }
}
