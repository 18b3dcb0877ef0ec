/** etmem's printf-style columns, for output that etmem users' scripts parse. */

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
