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
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { VirtTierError } from '../errors.js';
import { formatOfPath, parseConfigTextBounded } from './text.js';
import type { ConfigDocument, HostFacts } from './types.js';

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

async function readChecked(file: string, fh: FileHandle): Promise<string> {
  const st = await fh.stat();
  if (!st.isFile()) throw fileError(file, `is ${kindOf(st.mode)}`, 'a regular file');
  if (st.uid !== 0) throw fileError(file, `is owned by uid ${st.uid}`, 'owned by root (uid 0)', String(st.uid));
  const perm = st.mode & 0o7777;
  if (perm !== 0o600 && perm !== 0o400) {
    const shown = perm.toString(8).padStart(4, '0');
    throw fileError(file, `has mode ${shown}`, 'mode 0600 or 0400', shown);
  }
  if (st.size > MAX_CONFIG_FILE_BYTES) {
    throw fileError(file, `is ${st.size} bytes`, `at most ${MAX_CONFIG_FILE_BYTES} bytes (10 MiB)`, String(st.size));
  }
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
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, total));
  } catch {
    throw fileError(file, 'is not valid UTF-8 text', 'UTF-8 text');
  }
}

/**
 * Reads, checks and parses a configuration file (`.yaml`/`.yml`: YAML,
 * otherwise etmem's INI form). Errors are VirtTierError('OPT_INVAL') whose
 * message starts with the file name.
 */
export async function loadConfigFile(file: string, host: HostFacts, opts: { allowEmpty?: boolean } = {}): Promise<ConfigDocument> {
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(file, 'does not exist', 'an existing file');
    if (code === 'ENOTDIR') throw fileError(file, 'a component of the path is not a directory', 'an existing file');
    throw fileError(file, `cannot be opened (${code ?? String(err)})`, 'a readable file');
  }
  let text: string;
  try {
    text = await readChecked(file, fh);
  } finally {
    await fh.close();
  }
  try {
    return await parseConfigTextBounded(text, formatOfPath(file), host, opts);
  } catch (err) {
    if (err instanceof VirtTierError) err.message = `config file ${file}: ${err.message}`;
    throw err;
  }
}
