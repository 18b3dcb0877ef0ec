/**
 * The one door to procfs and sysfs. Every platform reader (and the DAMON
 * tracker) reads and writes kernel files through a `PlatformIO`, so the same
 * control code runs against the live kernel, a captured fixture tree, an
 * in-memory tree, or a recorder that logs the exact sequence of reads and
 * writes (the damo habit: test control logic by the I/O it performs).
 *
 * Paths are always the absolute kernel paths (`/proc/1/smaps`,
 * `/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds`); only the
 * implementation decides where they really live.
 *
 * Binary files (/proc/PID/pagemap, /sys/kernel/mm/page_idle/bitmap) go
 * through the sibling `BinaryIO` (positioned reads and writes); every
 * implementation here offers both, so one RecordingIO logs text and binary
 * operations in a single sequence.
 *
 * Failures are SysError (`code` ENOENT, EACCES, EINVAL, EBUSY, ...; see
 * src/native/errors.ts), whichever implementation is used.
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { SysError, toSysError } from '../native/errors.js';

export interface PlatformIO {
  /** Whole file as UTF-8 text. */
  readText(filePath: string): Promise<string>;
  /** Entry names of a directory, sorted. */
  readDir(dirPath: string): Promise<string[]>;
  /** Writes `text` to an existing kernel file (sysfs/procfs attribute). */
  writeText(filePath: string, text: string): Promise<void>;
  /** True when the path exists (file or directory). */
  exists(filePath: string): Promise<boolean>;
}

/**
 * Positioned binary reads and writes of kernel files: pread/pwrite on a
 * fresh fd, as pagemap (8 bytes per page, fs/proc/task_mmu.c) and the
 * page_idle bitmap (mm/page_idle.c) need.
 */
export interface BinaryIO {
  /**
   * Up to `lengthBytes` bytes from `positionBytes`; shorter at end of file.
   * `lengthBytes` 0 only opens the file for reading (a permission probe).
   */
  readBytes(filePath: string, positionBytes: number, lengthBytes: number): Promise<Buffer>;
  /** Writes `data` at `positionBytes` of an existing file. */
  writeBytes(filePath: string, positionBytes: number, data: Uint8Array): Promise<void>;
}

/** Text and binary access together: what the implementations here provide. */
export type KernelFileIO = PlatformIO & BinaryIO;

/** One I/O operation as a RecordingIO logs it. */
export interface IoOp {
  op: 'readText' | 'readDir' | 'writeText' | 'exists' | 'readBytes' | 'writeBytes';
  path: string;
  /** writeText: the text written */
  text?: string;
  /** readBytes/writeBytes: the file offset */
  positionBytes?: number;
  /** readBytes: bytes asked for; writeBytes: bytes written */
  lengthBytes?: number;
  /** the error code when the operation failed */
  error?: string;
}

function rethrow(err: unknown): never {
  throw toSysError(err);
}

async function preadUpTo(handle: fs.FileHandle, positionBytes: number, lengthBytes: number): Promise<Buffer> {
  const buf = Buffer.alloc(lengthBytes);
  let done = 0;
  while (done < lengthBytes) {
    const { bytesRead } = await handle.read(buf, done, lengthBytes - done, positionBytes + done);
    if (bytesRead === 0) break; // end of file (past the last PFN, or the end of the address space)
    done += bytesRead;
  }
  return done === lengthBytes ? buf : buf.subarray(0, done);
}

/** Reads and writes the files under `root` instead of `/`: root '/' is the live kernel. */
export function rootedIO(root: string): KernelFileIO {
  const at = (p: string): string => {
    if (!path.isAbsolute(p)) throw new TypeError(`platform path must be absolute: ${p}`);
    return root === '/' ? p : path.join(root, p);
  };
  return {
    readText: (p) => fs.readFile(at(p), 'utf8').catch(rethrow),
    readDir: async (p) => (await fs.readdir(at(p)).catch(rethrow)).sort(),
    // O_WRONLY alone: no O_CREAT (a missing attribute is ENOENT, as in
    // sysfs) and no read access (kernfs refuses O_RDWR on write-only
    // attributes such as zram-control/hot_remove with EACCES). Fixture
    // files are regular files and are truncated first.
    writeText: async (p, text) => {
      const handle = await fs.open(at(p), fsConstants.O_WRONLY).catch(rethrow);
      try {
        if (root !== '/') await handle.truncate(0);
        await handle.write(text, 0, 'utf8').catch(rethrow);
      } finally {
        await handle.close();
      }
    },
    exists: async (p) => fs.access(at(p)).then(() => true, () => false),
    readBytes: async (p, positionBytes, lengthBytes) => {
      const handle = await fs.open(at(p), 'r').catch(rethrow);
      try {
        return await preadUpTo(handle, positionBytes, lengthBytes).catch(rethrow);
      } finally {
        await handle.close();
      }
    },
    // O_WRONLY without O_CREAT, as writeText; no truncation: a positioned
    // write changes only its own bytes (the bitmap is one long file).
    writeBytes: async (p, positionBytes, data) => {
      const handle = await fs.open(at(p), fsConstants.O_WRONLY).catch(rethrow);
      try {
        await handle.write(data, 0, data.length, positionBytes).catch(rethrow);
      } finally {
        await handle.close();
      }
    },
  };
}

/** The live kernel. */
export const liveIO: KernelFileIO = rootedIO('/');

/**
 * An in-memory tree: `files` maps absolute paths to contents; directories
 * are implied by the paths. Writes replace contents (only of existing files,
 * unless `createOnWrite`). For unit tests of sysfs control sequences.
 */
export class MemoryIO implements KernelFileIO {
  readonly files: Map<string, string>;
  /** binary files (pagemap, bitmap); read through readBytes/writeBytes only */
  readonly blobs: Map<string, Buffer>;
  private readonly createOnWrite: boolean;

  constructor(files: Record<string, string> = {}, options: { createOnWrite?: boolean; blobs?: Record<string, Uint8Array> } = {}) {
    this.files = new Map(Object.entries(files));
    this.blobs = new Map(Object.entries(options.blobs ?? {}).map(([p, b]) => [p, Buffer.from(b)]));
    this.createOnWrite = options.createOnWrite ?? false;
  }

  async readBytes(p: string, positionBytes: number, lengthBytes: number): Promise<Buffer> {
    const text = this.files.get(p);
    const blob = this.blobs.get(p) ?? (text === undefined ? undefined : Buffer.from(text));
    if (blob === undefined) throw new SysError('ENOENT', 2, 'open', `open ${p}`);
    return Buffer.from(blob.subarray(Math.min(positionBytes, blob.length), Math.min(positionBytes + lengthBytes, blob.length)));
  }

  async writeBytes(p: string, positionBytes: number, data: Uint8Array): Promise<void> {
    let blob = this.blobs.get(p);
    if (blob === undefined) {
      if (!this.createOnWrite) throw new SysError('ENOENT', 2, 'open', `open ${p}`);
      blob = Buffer.alloc(0);
    }
    if (blob.length < positionBytes + data.length) blob = Buffer.concat([blob, Buffer.alloc(positionBytes + data.length - blob.length)]);
    blob.set(data, positionBytes);
    this.blobs.set(p, blob);
  }

  async readText(p: string): Promise<string> {
    const text = this.files.get(p);
    if (text === undefined) throw new SysError(this.isDir(p) ? 'EISDIR' : 'ENOENT', this.isDir(p) ? 21 : 2, 'open', `open ${p}`);
    return text;
  }

  async readDir(p: string): Promise<string[]> {
    const prefix = p.endsWith('/') ? p : `${p}/`;
    const names = new Set<string>();
    for (const key of [...this.files.keys(), ...this.blobs.keys()]) {
      if (key.startsWith(prefix)) names.add(key.slice(prefix.length).split('/')[0]!);
    }
    if (names.size === 0) throw new SysError('ENOENT', 2, 'scandir', `scandir ${p}`);
    return [...names].sort();
  }

  async writeText(p: string, text: string): Promise<void> {
    if (!this.files.has(p) && !this.createOnWrite) throw new SysError('ENOENT', 2, 'open', `open ${p}`);
    this.files.set(p, text);
  }

  async exists(p: string): Promise<boolean> {
    return this.files.has(p) || this.blobs.has(p) || this.isDir(p);
  }

  private isDir(p: string): boolean {
    const prefix = p.endsWith('/') ? p : `${p}/`;
    for (const key of [...this.files.keys(), ...this.blobs.keys()]) if (key.startsWith(prefix)) return true;
    return false;
  }
}

/**
 * Wraps another PlatformIO and appends every operation to `ops`. With
 * `applyWrites: false` writes are recorded but not performed (a dry run
 * against the live kernel).
 */
export class RecordingIO implements KernelFileIO {
  readonly ops: IoOp[] = [];
  private readonly inner: PlatformIO & Partial<BinaryIO>;
  private readonly applyWrites: boolean;

  constructor(inner: PlatformIO & Partial<BinaryIO>, options: { applyWrites?: boolean } = {}) {
    this.inner = inner;
    this.applyWrites = options.applyWrites ?? true;
  }

  readText(p: string): Promise<string> {
    return this.track({ op: 'readText', path: p }, () => this.inner.readText(p));
  }

  readDir(p: string): Promise<string[]> {
    return this.track({ op: 'readDir', path: p }, () => this.inner.readDir(p));
  }

  writeText(p: string, text: string): Promise<void> {
    return this.track({ op: 'writeText', path: p, text }, () => (this.applyWrites ? this.inner.writeText(p, text) : Promise.resolve()));
  }

  exists(p: string): Promise<boolean> {
    return this.track({ op: 'exists', path: p }, () => this.inner.exists(p));
  }

  readBytes(p: string, positionBytes: number, lengthBytes: number): Promise<Buffer> {
    return this.track({ op: 'readBytes', path: p, positionBytes, lengthBytes }, () => this.binary().readBytes(p, positionBytes, lengthBytes));
  }

  writeBytes(p: string, positionBytes: number, data: Uint8Array): Promise<void> {
    const op: IoOp = { op: 'writeBytes', path: p, positionBytes, lengthBytes: data.length };
    return this.track(op, () => (this.applyWrites ? this.binary().writeBytes(p, positionBytes, data) : Promise.resolve()));
  }

  /** Every operation that changes a file (text or binary), in order. */
  mutations(): IoOp[] {
    return this.ops.filter((o) => o.op === 'writeText' || o.op === 'writeBytes');
  }

  private binary(): BinaryIO {
    const { readBytes, writeBytes } = this.inner;
    if (!readBytes || !writeBytes) throw new TypeError('RecordingIO: the wrapped PlatformIO has no binary I/O (readBytes/writeBytes)');
    return { readBytes: readBytes.bind(this.inner), writeBytes: writeBytes.bind(this.inner) };
  }

  /** Only the writes, as [path, text] pairs, in order. */
  writes(): Array<[string, string]> {
    return this.ops.filter((o) => o.op === 'writeText').map((o) => [o.path, o.text ?? '']);
  }

  private async track<T>(op: IoOp, run: () => Promise<T>): Promise<T> {
    this.ops.push(op);
    try {
      return await run();
    } catch (err) {
      const e = toSysError(err);
      op.error = e instanceof SysError ? e.code : String(err);
      throw e;
    }
  }
}
