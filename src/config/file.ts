/**
 * Loading a configuration file with etmem's checks: it exists, is a
 * regular file, is owned by root, has mode 0600 or 0400 exactly (its
 * permission bits, setuid/setgid/sticky included), and is at most 10 MiB.
 * The daemon runs as root and acts on what the file says, so a file others
 * could write is refused.
 *
 * The file is opened once and the checks are made on the open descriptor
 * (fstat), then the same descriptor is read: no window in which the path
 * could be swapped between check and use. O_NONBLOCK keeps a FIFO from
 * blocking the open; it is then refused as not a regular file.
 *
 * A request from a peer other than root (a member of `--allow-gid`) is read
 * with that peer's rights, never the daemon's: a helper process running as
 * the peer's uid and gid (no supplementary groups) opens and reads the file
 * (peer-read-child.ts), so a symlink to a root-only file fails with EACCES
 * as it would for the peer itself. Such a file must be owned by root or by
 * the peer. Errors quote at most a short excerpt of the file (raw.ts).
 */
import { spawn } from 'node:child_process';
import { constants, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { VirtTierError } from '../errors.js';
import { formatOfPath, parseConfigTextBounded, parseObjectRefsText } from './text.js';
import type { ConfigDocument, HostFacts, ObjectRefs } from './types.js';

/** Who asked for the file: its uid and gid (SO_PEERCRED of the control connection). */
export interface FileReader {
  uid: number;
  gid: number;
}

/** A config error's message is cut to this many characters, whatever built it. */
const MAX_ERROR_MESSAGE_CHARS = 400;
/** the helper that reads as a peer must be done by then (a FIFO or a slow filesystem must not hold an add) */
const PEER_READ_TIMEOUT_MS = 10_000;

export const MAX_CONFIG_FILE_BYTES = 10 * 1024 * 1024;

function fileError(file: string, why: string, allowed: string, value?: string): VirtTierError {
  return new VirtTierError('OPT_INVAL', `config file ${file}: ${why}; allowed: ${allowed}`, { field: 'file', value: value ?? file, allowed });
}

function kindOf(mode: number): string {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFDIR: return 'a directory';
    case constants.S_IFIFO: return 'a FIFO';
    case constants.S_IFSOCK: return 'a socket';
    case constants.S_IFCHR: return 'a character device';
    case constants.S_IFBLK: return 'a block device';
    default: return 'not a regular file';
  }
}

interface FileFacts {
  kind: string;
  uid: number;
  /** the file's group; a root-owned file must be root's group too */
  gid?: number;
  mode: number;
  size: number;
}

function checkFacts(file: string, st: FileFacts, owners: readonly number[]): void {
  if (st.kind !== 'file') throw fileError(file, `is ${st.kind}`, 'a regular file');
  if (!owners.includes(st.uid)) {
    const allowed = owners.length === 1 ? 'owned by root (uid 0, gid 0)' : `owned by root (uid 0, gid 0) or by the requesting user (uid ${owners[1]})`;
    throw fileError(file, `is owned by uid ${st.uid}`, allowed, String(st.uid));
  }
  // etmem (etmemd_common.c file_permission_check) wants the root group too: a group could otherwise be
  // handed the file by a later chmod g+w without anyone changing its owner.
  if (st.uid === 0 && st.gid !== undefined && st.gid !== 0) throw fileError(file, `has group gid ${st.gid}`, 'owned by root (uid 0, gid 0)', String(st.gid));
  const perm = st.mode & 0o7777;
  if (perm !== 0o600 && perm !== 0o400) {
    const shown = perm.toString(8).padStart(4, '0');
    throw fileError(file, `has mode ${shown}`, 'mode 0600 or 0400', shown);
  }
  if (st.size > MAX_CONFIG_FILE_BYTES) {
    throw fileError(file, `is ${st.size} bytes`, `at most ${MAX_CONFIG_FILE_BYTES} bytes (10 MiB)`, String(st.size));
  }
}

async function readChecked(file: string, fh: FileHandle): Promise<Buffer> {
  const st = await fh.stat();
  checkFacts(file, { kind: st.isFile() ? 'file' : kindOf(st.mode), uid: st.uid, gid: st.gid, mode: st.mode, size: st.size }, [0]);
  // Read to EOF but never past the limit: the file may have grown since fstat.
  const chunks: Buffer[] = [];
  let total = 0;
  while (total <= MAX_CONFIG_FILE_BYTES) {
    const chunk = Buffer.alloc(Math.min(Math.max(st.size, 4096), MAX_CONFIG_FILE_BYTES + 1 - total));
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) break;
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
  }
  if (total > MAX_CONFIG_FILE_BYTES) {
    throw fileError(file, 'grew beyond the size limit while being read', `at most ${MAX_CONFIG_FILE_BYTES} bytes (10 MiB)`);
  }
  return Buffer.concat(chunks, total);
}

function openError(file: string, code: string | undefined): VirtTierError {
  if (code === 'ENOENT') return fileError(file, 'does not exist', 'an existing file');
  if (code === 'ENOTDIR') return fileError(file, 'a component of the path is not a directory', 'an existing file');
  if (code === 'EACCES' || code === 'EPERM') return fileError(file, `cannot be opened by the requesting user (${code})`, 'a file the requesting user can read');
  return fileError(file, `cannot be opened (${code ?? 'error'})`, 'a readable file');
}

async function readAsRoot(file: string): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw openError(file, (err as NodeJS.ErrnoException).code);
  }
  try {
    return await readChecked(file, fh);
  } finally {
    await fh.close();
  }
}

/**
 * Opens and reads `file` in a helper process running as `reader` (uid, gid,
 * no supplementary groups, empty environment), then checks what the helper
 * saw with fstat: the same checks as for root, except that the file may
 * also be owned by the reader.
 */
let helperCode: string | undefined;

function readAsPeer(file: string, reader: FileReader): Promise<Buffer> {
  // Read by root and passed with -e: the peer need not be able to read the daemon's files.
  helperCode ??= readFileSync(fileURLToPath(new URL('./peer-read-child.js', import.meta.url)), 'utf8');
  return new Promise((resolve, reject) => {
    // Node's spawn with uid/gid drops supplementary groups (setgroups(0)) before setgid/setuid.
    const child = spawn(process.execPath, ['--input-type=module', '-e', helperCode!, file, String(MAX_CONFIG_FILE_BYTES)], {
      uid: reader.uid,
      gid: reader.gid,
      cwd: '/',
      env: {},
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: PEER_READ_TIMEOUT_MS,
    });
    const chunks: Buffer[] = [];
    let total = 0;
    child.stdout!.on('data', (d: Buffer) => {
      total += d.length;
      // header plus at most the limit and one byte: more means a broken helper
      if (total > MAX_CONFIG_FILE_BYTES + 4096) child.kill('SIGKILL');
      else chunks.push(d);
    });
    child.on('error', (err) => reject(fileError(file, `cannot be read as uid ${reader.uid} (${(err as NodeJS.ErrnoException).code ?? err.message})`, 'a file the requesting user can read')));
    child.on('close', (code, signal) => {
      const out = Buffer.concat(chunks);
      const nl = out.indexOf(0x0a);
      let head: { error?: string; kind?: string; uid?: number; gid?: number; mode?: number; size?: number; grew?: boolean } | undefined;
      try {
        head = nl < 0 ? undefined : (JSON.parse(out.subarray(0, nl).toString('utf8')) as typeof head);
      } catch {
        head = undefined;
      }
      if (code !== 0 || !head) {
        reject(fileError(file, `could not be read as uid ${reader.uid} (helper ${signal ? `killed by ${signal}` : `exit ${code}`})`, 'a file the requesting user can read'));
        return;
      }
      try {
        if (head.error !== undefined) throw openError(file, head.error);
        checkFacts(file, { kind: head.kind === 'file' ? 'file' : kindOf(head.mode ?? 0), uid: head.uid ?? -1, gid: head.gid, mode: head.mode ?? 0, size: head.size ?? 0 }, reader.uid === 0 ? [0] : [0, reader.uid]);
        if (head.grew) throw fileError(file, 'grew beyond the size limit while being read', `at most ${MAX_CONFIG_FILE_BYTES} bytes (10 MiB)`);
        resolve(out.subarray(nl + 1));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/**
 * Reads, checks and parses a configuration file (`.yaml`/`.yml`: YAML,
 * otherwise etmem's INI form). Errors are VirtTierError('OPT_INVAL') whose
 * message starts with the file name.
 */
export async function loadConfigFile(file: string, host: HostFacts, opts: { allowEmpty?: boolean; reader?: FileReader } = {}): Promise<ConfigDocument> {
  const text = await readText(file, opts.reader);
  return parsed(file, () => parseConfigTextBounded(text, formatOfPath(file), host, { allowEmpty: opts.allowEmpty }));
}

/** Reads and checks a configuration file for `obj del`: only the identity keys of its objects (parseObjectRefs), as etmem. */
export async function loadObjectRefs(file: string, reader?: FileReader): Promise<ObjectRefs> {
  const text = await readText(file, reader);
  return parsed(file, () => parseObjectRefsText(text, formatOfPath(file)));
}

/** The file's text, read with the requesting peer's rights (root's for root). */
async function readText(file: string, reader?: FileReader): Promise<string> {
  const bytes = reader === undefined || reader.uid === 0 ? await readAsRoot(file) : await readAsPeer(file, reader);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw fileError(file, 'is not valid UTF-8 text', 'UTF-8 text');
  }
}

async function parsed<T>(file: string, parse: () => T | Promise<T>): Promise<T> {
  try {
    return await parse();
  } catch (err) {
    if (err instanceof VirtTierError) {
      // The builders quote excerpts only (raw.ts); this bound holds for any message that reaches the peer.
      const message = `config file ${file}: ${err.message}`.replace(/\p{C}/gu, '?');
      err.message = message.length > MAX_ERROR_MESSAGE_CHARS ? `${message.slice(0, MAX_ERROR_MESSAGE_CHARS)}...` : message;
    }
    throw err;
  }
}
