/**
 * The pidfile of `-m`, written by root: it must never become a way to make
 * root write where a user points. So the file's directory and every
 * directory above it must be root-owned and writable by root only (a
 * sticky directory such as /tmp may sit above, not hold the file), and the
 * file is created with O_CREAT|O_EXCL|O_NOFOLLOW: a symlink (or anything but
 * a stale regular file) at the name is refused, never followed.
 */
import { closeSync, constants, lstatSync, openSync, readSync, realpathSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { VirtTierError } from '../errors.js';

function pidFileError(file: string, why: string, allowed: string): VirtTierError {
  return new VirtTierError('OPT_INVAL', `--pidfile ${file}: ${why}; allowed: ${allowed}`, { field: '--pidfile', value: file, allowed });
}

/** S_ISVTX (sys/stat.h); Node's fs.constants lacks it. libuv opens every file O_CLOEXEC already. */
const STICKY = 0o1000;
const SAFE_DIR = 'a file in a root-owned directory that only root can write (such as /run)';

/** Throws unless `file`'s directory chain is root-owned and writable by root alone; returns the file's path in the real directory. */
export function checkPidFileDir(file: string): string {
  if (!path.isAbsolute(file)) throw pidFileError(file, 'is not an absolute path', 'an absolute path');
  let dir: string;
  try {
    dir = realpathSync(path.dirname(file));
  } catch (err) {
    throw pidFileError(file, `its directory cannot be resolved (${(err as NodeJS.ErrnoException).code ?? String(err)})`, SAFE_DIR);
  }
  for (let d = dir, first = true; ; first = false) {
    const st = statSync(d);
    if (!st.isDirectory()) throw pidFileError(file, `${d} is not a directory`, SAFE_DIR);
    if (st.uid !== 0) throw pidFileError(file, `directory ${d} is owned by uid ${st.uid}`, SAFE_DIR);
    const othersWrite = (st.mode & 0o022) !== 0;
    // A sticky directory above is fine: nobody but root can rename the root-owned directory below it.
    if (othersWrite && (first || (st.mode & STICKY) === 0)) {
      throw pidFileError(file, `directory ${d} is writable by others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`, SAFE_DIR);
    }
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  return path.join(dir, path.basename(file));
}

/** Creates the pidfile holding `pid`; a stale regular file at the name is replaced, a symlink or other kind refused. */
export function writePidFile(file: string, pid: number): void {
  const real = checkPidFileDir(file);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(real, flags, 0o644);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' || attempt > 0) throw pidFileError(file, `cannot be created (${code ?? String(err)})`, SAFE_DIR);
      const st = lstatSync(real);
      if (st.isSymbolicLink()) throw pidFileError(file, 'is a symbolic link (never followed)', 'a regular file or no file');
      if (!st.isFile()) throw pidFileError(file, 'exists and is not a regular file', 'a regular file or no file');
      // A stale pidfile: this daemon already holds its socket name, so no live daemon owns it.
      unlinkSync(real);
      continue;
    }
    try {
      writeSync(fd, `${pid}\n`);
    } finally {
      closeSync(fd);
    }
    return;
  }
}

/** Removes the pidfile only when it is a regular file naming `pid` (never follows a symlink); errors are ignored. */
export function removePidFile(file: string, pid: number): void {
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const buf = Buffer.alloc(32);
    let n = 0;
    try {
      n = readSync(fd, buf, 0, buf.length, 0);
    } finally {
      closeSync(fd);
    }
    if (buf.toString('utf8', 0, n).trim() === String(pid)) unlinkSync(file);
  } catch {
    // already gone, a symlink, or not ours: leave it
  }
}
