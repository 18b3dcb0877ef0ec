/**
 * Real live migrations for the migration tests and bench: a libvirt guest
 * (the source, test/libvirt/guest.ts) is migrated by QEMU itself over TCP
 * to a second QEMU started here with `-incoming tcp:127.0.0.1:PORT`, built
 * from the source's own command line (same machine type, RAM size, devices,
 * kernel and initrd, so every RAMBlock and device section matches).
 * libvirt's QEMU sandbox forbids `exec:` URIs, and a second libvirt domain
 * cannot share the source's name and UUID on one host, hence the bare QEMU.
 * The source is driven through libvirt's monitor passthrough
 * (`virsh qemu-monitor-command`), the figures are QEMU's `query-migrate`.
 *
 * The destination's RAM is `memory-backend-ram` whatever the source's
 * backend: QEMU checks RAMBlock ids and lengths, not the backing (page sizes
 * are only compared with postcopy-ram, migration/ram.c parse_ramblock), and
 * the host's hugepage pool is shared with other tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TEST_URI } from './guest.js';

const execFileAsync = promisify(execFile);

/**
 * A guest /init that, when the kernel command line carries
 * `vt_ws_mib=N`, keeps rewriting an N MiB tmpfs file with fresh random
 * data (each pass new content: a same-value or back-and-forth rewrite
 * would be dirty for QEMU but invisible to a content sampler).
 * `vt_fast_mib=N` rewrites N MiB as fast as memory copies go, cycling
 * through three random patterns (a content sampler may miss a rewrite that
 * lands on the pattern it saw last: for guests whose point is to outrun the
 * bandwidth, not to be measured exactly). `vt_fill_mib=M` writes M MiB of
 * nonzero data once and leaves it (cold data). Without any it idles like
 * the default init.
 */
export const WORKLOAD_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=400m tmpfs /tmp
ws=$(sed -n 's/.*vt_ws_mib=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
fill=$(sed -n 's/.*vt_fill_mib=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
fast=$(sed -n 's/.*vt_fast_mib=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
pattern() { dd if=/dev/urandom of=/tmp/seed bs=1M count=1 2>/dev/null; i=0; : > "$1"; while [ $i -lt $2 ]; do cat /tmp/seed >> "$1"; i=$((i + 1)); done; }
[ -n "$fill" ] && pattern /tmp/fill "$fill" && echo virt-tier-test-fill-done > /dev/console
if [ -n "$ws" ]; then
  dd if=/dev/urandom of=/tmp/w bs=1M count=$ws 2>/dev/null
  echo virt-tier-test-workload-up > /dev/console
  while :; do dd if=/dev/urandom of=/tmp/w bs=256k count=$((ws * 4)) conv=notrunc 2>/dev/null; done
fi
if [ -n "$fast" ]; then
  pattern /tmp/a "$fast"; pattern /tmp/b "$fast"; pattern /tmp/c "$fast"; cp /tmp/a /tmp/w
  echo virt-tier-test-workload-up > /dev/console
  while :; do for f in b c a; do dd if=/tmp/$f of=/tmp/w bs=256k conv=notrunc 2>/dev/null; done; done
fi
echo virt-tier-test-guest-up > /dev/console
while :; do sleep 3600; done
`;

/** One QMP command on a libvirt domain through the monitor passthrough; returns `return`. */
export async function qmp(domain: string, execute: string, args?: Record<string, unknown>): Promise<any> {
  const cmd = JSON.stringify(args ? { execute, arguments: args } : { execute });
  const { stdout } = await execFileAsync('virsh', ['-q', '-c', TEST_URI, 'qemu-monitor-command', domain, cmd], { timeout: 60_000, encoding: 'utf8' });
  const reply = JSON.parse(stdout) as { return?: unknown; error?: { desc: string } };
  if (reply.error) throw new Error(`QMP ${execute}: ${reply.error.desc}`);
  return reply.return;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The source QEMU's argv turned into an incoming destination's (exported for a unit check of the rewrite). */
export function incomingArgv(sourceArgv: readonly string[], dir: string, port: number): string[] {
  const out: string[] = [];
  for (let i = 1; i < sourceArgv.length; i++) {
    const k = sourceArgv[i]!;
    const v = sourceArgv[i + 1] ?? '';
    if (k === '-S') continue; // run once the migration completes
    if (k === '-sandbox' || k === '-add-fd' || (k === '-object' && v.includes('"secret"'))) {
      i++;
      continue;
    }
    if (k === '-object' && v.includes('"memory-backend-')) {
      const o = JSON.parse(v) as { id: string; size: number };
      out.push(k, JSON.stringify({ 'qom-type': 'memory-backend-ram', id: o.id, size: o.size }));
      i++;
      continue;
    }
    if (k === '-chardev' && v.startsWith('socket,id=charmonitor')) {
      out.push(k, `socket,id=charmonitor,path=${path.join(dir, 'qmp.sock')},server=on,wait=off`);
      i++;
      continue;
    }
    if (k === '-chardev' && v.startsWith('file,id=charserial0')) {
      out.push(k, `file,id=charserial0,path=${path.join(dir, 'console.log')}`);
      i++;
      continue;
    }
    if (k === '-name') {
      out.push(k, 'guest=virt-tier-incoming');
      i++;
      continue;
    }
    out.push(k);
  }
  out.push('-incoming', `tcp:127.0.0.1:${port}`);
  return out;
}

export interface IncomingQemu {
  pid: number;
  port: number;
  dir: string;
  child: ChildProcess;
  /** kills this QEMU (by its pid) and removes its directory */
  stop(): Promise<void>;
}

/** Starts a destination QEMU for the source QEMU `sourcePid`, listening for the migration stream. */
export async function startIncoming(sourcePid: number): Promise<IncomingQemu> {
  const argv = readFileSync(`/proc/${sourcePid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  const dir = mkdtempSync(path.join(tmpdir(), 'vt-incoming-'));
  const port = await freePort();
  const child = spawn(argv[0]!, incomingArgv(argv, dir, port), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // listening once /proc/net/tcp shows the port: polling keeps this free of timing guesses
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`incoming QEMU exited: ${stderr}`);
    const listening = readFileSync('/proc/net/tcp', 'utf8').split('\n').some((l) => l.includes(`:${hexPort} `) && / 0A /.test(l));
    if (listening) break;
    if (i > 600) throw new Error(`incoming QEMU did not listen on ${port} within 60 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    port,
    dir,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** QEMU's query-migrate, the fields the tests compare. */
export interface MigrationFigures {
  status: string;
  totalTimeMs: number;
  downtimeMs: number;
  setupTimeMs: number;
  transferredBytes: number;
  normalPages: number;
  zeroPages: number;
  dirtySyncCount: number;
  totalBytes: number;
  /** from the migrate command to the poll that saw the end, ms (100 ms polls): a check on total-time */
  wallMs?: number;
  raw: any;
}

export function figures(raw: any): MigrationFigures {
  const ram = raw.ram ?? {};
  return {
    status: raw.status,
    totalTimeMs: raw['total-time'] ?? NaN,
    downtimeMs: raw.downtime ?? NaN,
    setupTimeMs: raw['setup-time'] ?? NaN,
    transferredBytes: ram.transferred ?? 0,
    normalPages: ram.normal ?? 0,
    zeroPages: ram.duplicate ?? 0,
    dirtySyncCount: ram['dirty-sync-count'] ?? 0,
    totalBytes: ram.total ?? 0,
    raw,
  };
}

export interface MigrateOptions {
  /** QEMU max-bandwidth, bytes/s */
  maxBandwidthBytesPerSec: number;
  /** QEMU downtime-limit, ms (default 300) */
  downtimeLimitMs?: number;
  /** give up (migrate_cancel) after this long, ms; the figures are then of a cancelled run */
  cancelAfterMs?: number;
}

/**
 * Migrates `domain` to `dest` and waits for the end. With `cancelAfterMs`
 * the migration is cancelled if still active then; the figures returned are
 * the last ones seen while it was active.
 */
export async function migrate(domain: string, dest: IncomingQemu, opts: MigrateOptions): Promise<MigrationFigures> {
  await qmp(domain, 'migrate-set-parameters', { 'max-bandwidth': opts.maxBandwidthBytesPerSec, 'downtime-limit': opts.downtimeLimitMs ?? 300 });
  await qmp(domain, 'migrate', { uri: `tcp:127.0.0.1:${dest.port}` });
  const started = Date.now();
  const deadline = started + (opts.cancelAfterMs ?? 120_000);
  let last: any;
  for (;;) {
    let q = await qmp(domain, 'query-migrate');
    if (q.status === 'completed' || q.status === 'failed' || q.status === 'cancelled') {
      const wallMs = Date.now() - started;
      // QEMU 7.2 sets the state to completed before it computes total-time and downtime
      // (migration_iteration_finish -> migration_calculate_complete): a poll in between reads 0
      for (let i = 0; q.status === 'completed' && !(q['total-time'] > 0) && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 20));
        q = await qmp(domain, 'query-migrate');
      }
      return { ...figures(q), wallMs };
    }
    last = q;
    if (Date.now() > deadline) {
      await qmp(domain, 'migrate_cancel');
      for (;;) {
        const c = await qmp(domain, 'query-migrate');
        if (c.status !== 'active' && c.status !== 'cancelling') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      return figures(last);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
