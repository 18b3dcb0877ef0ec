/**
 * Inside the testbed (harness option `libvirt: true`): real libvirt guests
 * running the freestanding hot-loop program (test/testbed/guest-code/),
 * started with virsh, and the kernel's view of their RAM: each RAMBlock
 * (QEMU's `info ramblock` through `virsh qemu-monitor-command --hmp`), the
 * VMA it lives in (/proc/PID/maps), and so the host address of every
 * guest-physical 2 MiB page, hot or cold as the program makes it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { native } from '../../../src/native/index.js';
import { buildHotLoopImage, hotGuestPages, type HotLoopOptions } from '../guest-code/hot-loop.js';

export const POLICY_NS = 'https://virt-tier.dev/xmlns/policy/1';
export const IMAGE_DIR = '/var/lib/libvirt/images';
const PAGE_BYTES = 2 << 20;
const MiB = 1 << 20;

export type GuestRam = 'hugetlbfs' | 'memfd';

export interface GuestSpec {
  name: string;
  uuid: string;
  ramMiB: number;
  hotStartMiB: number;
  hotEndMiB: number;
  /** guest NUMA cells (RAM split evenly, RAMBlocks ram-node0..); 0 = one pc.ram */
  numaCells: number;
  ram: GuestRam;
  /** attributes of the <tier:policy> element */
  policy: Record<string, string>;
}

export interface RamBlockView {
  id: string;
  /** guest-physical base of the block (the cells are laid out in order from 0) */
  guestBase: number;
  sizeBytes: number;
  /** the block's VMA in the QEMU process */
  hostStart: number;
  vmaPath: string;
}

export interface RunningGuest {
  spec: GuestSpec;
  pid: number;
  blocks: RamBlockView[];
  /** host address of every guest-physical 2 MiB page, in guest-physical order */
  pageAddrs: number[];
  /** guest-physical page indices the program keeps writing */
  hotPages: number[];
}

export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
}

/** virsh without throwing: code and output. */
export function virshTry(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** virsh without blocking the event loop (the round watcher keeps polling meanwhile). */
export function virshAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('virsh', ['-q', '-c', 'qemu:///system', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': the output may still be in the pipe when 'exit' fires (an empty `info ramblock` under load)
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function policyElement(attrs: Record<string, string>): string {
  return `<tier:policy xmlns:tier="${POLICY_NS}" ${Object.entries(attrs).map(([k, v]) => `${k}="${v}"`).join(' ')}/>`;
}

function hotLoop(spec: GuestSpec): HotLoopOptions {
  return { ramMiB: spec.ramMiB, hotStartMiB: spec.hotStartMiB, hotEndMiB: spec.hotEndMiB };
}

/** The domain XML: TCG, hugepage RAM (hugetlbfs files, or memfd with hugetlb), the program as a multiboot -kernel. */
export function guestXml(spec: GuestSpec, imagePath: string): string {
  const cells = spec.numaCells;
  const numa = cells > 0
    ? `<cpu><numa>${Array.from({ length: cells }, (_, i) => `<cell id='${i}' cpus='${i}' memory='${spec.ramMiB / cells}' unit='MiB'/>`).join('')}</numa></cpu>`
    : '';
  const backing = spec.ram === 'memfd'
    ? "<memoryBacking><hugepages/><source type='memfd'/><access mode='shared'/></memoryBacking>"
    : '<memoryBacking><hugepages/></memoryBacking>';
  return `<domain type='qemu'>
  <name>${spec.name}</name>
  <uuid>${spec.uuid}</uuid>
  <metadata>${policyElement(spec.policy)}</metadata>
  <memory unit='MiB'>${spec.ramMiB}</memory>
  <vcpu>${Math.max(1, cells)}</vcpu>
  ${backing}
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${imagePath}</kernel>
  </os>
  ${numa}
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>`;
}

/** Free 2 MiB hugepages over all nodes. */
export function freeHugepages(): number {
  return Number(readFileSync('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', 'utf8').trim());
}

/**
 * Writes the program and the XML, `virsh define` + `virsh start`. A guest
 * that cannot start for want of hugepages is refused before libvirt tries,
 * naming the resource and the shortfall (libvirt's own message for it is a
 * QEMU "unable to map backing store" line that names neither).
 */
export async function defineAndStart(spec: GuestSpec): Promise<void> {
  mkdirSync(IMAGE_DIR, { recursive: true });
  const image = path.join(IMAGE_DIR, `${spec.name}.bin`);
  writeFileSync(image, buildHotLoopImage(hotLoop(spec)));
  const xmlFile = path.join(IMAGE_DIR, `${spec.name}.xml`);
  writeFileSync(xmlFile, guestXml(spec, image));
  const needPages = spec.ramMiB / 2;
  const free = freeHugepages();
  if (free < needPages) {
    throw new Error(`guest ${spec.name}: needs ${needPages} free 2 MiB hugepages (${spec.ramMiB} MiB), the pools have ${free}: ${needPages - free} hugepages (${(needPages - free) * 2} MiB) missing; raise hugepagesPerNode`);
  }
  const defined = await virshAsync('define', xmlFile);
  if (defined.code !== 0) throw new Error(`guest ${spec.name}: virsh define failed: ${defined.stderr.trim()}`);
  const r = await virshAsync('start', spec.name);
  if (r.code !== 0) {
    const hugepageHint = /backing store|hugepage|Cannot allocate memory|ENOMEM/i.test(r.stderr)
      ? ` (2 MiB hugepages: ${freeHugepages()} free, ${needPages} needed)`
      : '';
    throw new Error(`guest ${spec.name}: virsh start failed${hugepageHint}: ${r.stderr.trim()}`);
  }
}

/** The QEMU PID from libvirt's pidfile. */
export function qemuPid(name: string): number {
  return Number(readFileSync(`/run/libvirt/qemu/${name}.pid`, 'utf8').trim());
}

interface InfoRamblockRow {
  id: string;
  usedBytes: number;
}

/** QEMU's `info ramblock` (HMP through libvirt): block names and used sizes. */
export function infoRamblock(name: string): InfoRamblockRow[] {
  const text = virsh('qemu-monitor-command', name, '--hmp', 'info ramblock');
  const rows: InfoRamblockRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+\d+ [KMG]iB\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)/.exec(line);
    if (m) rows.push({ id: m[1]!, usedBytes: parseInt(m[3]!, 16) });
  }
  return rows;
}

/** The guest's RAM blocks in guest-physical order with their VMAs (/proc/PID/maps). */
export function guestRamBlocks(spec: GuestSpec, pid: number): RamBlockView[] {
  const ids = spec.numaCells > 0 ? Array.from({ length: spec.numaCells }, (_, i) => `ram-node${i}`) : ['pc.ram'];
  const rows = infoRamblock(spec.name);
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  let guestBase = 0;
  return ids.map((id) => {
    const row = rows.find((r) => r.id === id);
    if (!row) throw new Error(`guest ${spec.name}: no RAMBlock ${id} in info ramblock (${rows.map((r) => r.id).join(', ')})`);
    // hugetlbfs: the file is named after the block. memfd: QEMU 7.2 names
    // every memfd after its type (backends/hostmem-memfd.c), so the VMA of
    // that name and the block's size is it (one memfd block per guest here).
    const sizeOf = (l: string): number => {
      const [a, b] = l.split(/\s+/)[0]!.split('-');
      return parseInt(b!, 16) - parseInt(a!, 16);
    };
    const line = maps.find((l) => l.includes(`/qemu_back_mem.${id}.`))
      ?? maps.find((l) => (l.includes(`/memfd:${id} `) || l.includes('/memfd:memory-backend-memfd')) && sizeOf(l) === row.usedBytes);
    if (!line) throw new Error(`guest ${spec.name}: no VMA for RAMBlock ${id} in /proc/${pid}/maps:\n${maps.filter((l) => /memfd|qemu_back_mem/.test(l)).join('\n')}`);
    const [range] = line.split(/\s+/);
    const [start] = range!.split('-');
    const block = { id, guestBase, sizeBytes: row.usedBytes, hostStart: parseInt(start!, 16), vmaPath: line.replace(/^(\S+\s+){5}/, '').trim() };
    guestBase += row.usedBytes;
    return block;
  });
}

export function runningGuest(spec: GuestSpec): RunningGuest {
  const pid = qemuPid(spec.name);
  const blocks = guestRamBlocks(spec, pid);
  const pageAddrs: number[] = [];
  for (let gpa = 0; gpa < spec.ramMiB * MiB; gpa += PAGE_BYTES) {
    const b = blocks.find((x) => gpa >= x.guestBase && gpa < x.guestBase + x.sizeBytes)!;
    pageAddrs.push(b.hostStart + (gpa - b.guestBase));
  }
  return { spec, pid, blocks, pageAddrs, hotPages: hotGuestPages(hotLoop(spec)) };
}

/** Each guest page's node (move_pages query), in guest-physical order. */
export async function pageNodes(g: RunningGuest): Promise<number[]> {
  return [...(await native.movePages(g.pid, Float64Array.from(g.pageAddrs), null, 0))];
}

/** Moves the given guest pages to `node` (move_pages, MPOL_MF_MOVE); returns the status per page. */
export async function movePagesTo(g: RunningGuest, pages: number[], node: number): Promise<number[]> {
  const addrs = pages.map((p) => g.pageAddrs[p]!);
  return [...(await native.movePages(g.pid, Float64Array.from(addrs), Int32Array.from(addrs.map(() => node)), 2))];
}
