/**
 * The CLI's output formatters, shared by every verb: etmem's printf-style
 * columns (for output that etmem users' scripts parse), virsh-like tables,
 * byte sizes, addresses and `--json` output.
 */
import type { CliIO } from './command.js';
import type { NodeUsage } from '../virt/domain-stats.js';

/** `%-Ns`: left-justified, padded to width (never truncated, as printf). */
export function padRight(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

/** `%Ns`: right-justified. */
export function padLeft(s: string, width: number): string {
  return s.length >= width ? s : ' '.repeat(width - s.length) + s;
}

/** A virsh-like table: header, a dashed rule, rows; columns sized to content. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => ' ' + cells.map((c, i) => padRight(c, widths[i])).join('   ').trimEnd();
  const rule = '-'.repeat(widths.reduce((a, w) => a + w + 3, 0));
  return [line(headers), rule, ...rows.map(line)].join('\n') + '\n';
}

/** `--json` output: pretty-printed, one trailing newline. */
export function printJson(io: CliIO, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n');
}

/** Bytes in MiB with `fractionDigits` decimals and no unit, for prose: "12.5" (MiB). */
export const mibNumber = (bytes: number, fractionDigits = 0): string => (bytes / 2 ** 20).toFixed(fractionDigits);

/** A size column in whole MiB: "96M". */
export const mib = (bytes: number): string => `${mibNumber(bytes)}M`;

/** A page size in KiB: "4K", "2048K". */
export const kib = (bytes: number): string => `${bytes / 1024}K`;

/** An address: "0x7f0000000000". */
export const hex = (n: number): string => '0x' + n.toString(16);

/** RAM per NUMA node: "N0 96Mhot/32Mcold" with access data, "N0 128M" without, "-" for none. */
export function formatNodes(nodes: Record<number, NodeUsage>): string {
  const parts = Object.entries(nodes)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([node, u]) => (u.hotBytes !== undefined ? `N${node} ${mib(u.hotBytes)}hot/${mib(u.coldBytes ?? 0)}cold` : `N${node} ${mib(u.usedBytes)}`));
  return parts.length > 0 ? parts.join(' ') : '-';
}
