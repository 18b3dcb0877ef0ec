/**
 * The helper file.ts runs as a control-socket peer's uid and gid to read a
 * config file with that peer's rights, never root's. argv: FILE LIMIT.
 * stdout: one JSON line (`{error}` with the errno name, or the fstat facts
 * `{kind, uid, gid, mode, size, grew}`), then the file's bytes (at most LIMIT).
 * The daemon makes every decision; this only opens, fstats and reads.
 * It imports nothing of virt-tier, so it starts fast and runs alone; the
 * daemon passes its compiled text with `-e` (argv then starts at index 1),
 * so the peer need not be able to read the daemon's installation.
 */
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';

function out(buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(1, buf, off);
}

const [file, limitText] = process.argv.slice(1);
const limit = Number(limitText);
let fd = -1;
try {
  fd = openSync(file!, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
} catch (err) {
  out(Buffer.from(JSON.stringify({ error: (err as NodeJS.ErrnoException).code ?? 'EIO' }) + '\n'));
  process.exit(0);
}
const st = fstatSync(fd);
const kind = st.isFile() ? 'file' : 'other';
// Only a regular file within the limit is read; anything else is described and left to the daemon to refuse.
const chunks: Buffer[] = [];
let total = 0;
if (kind === 'file' && st.size <= limit) {
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, limit + 1 - total), null);
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (total > limit) break;
  }
}
closeSync(fd);
const grew = total > limit;
out(Buffer.from(JSON.stringify({ kind, uid: st.uid, gid: st.gid, mode: st.mode, size: st.size, grew }) + '\n'));
if (!grew) out(Buffer.concat(chunks));
