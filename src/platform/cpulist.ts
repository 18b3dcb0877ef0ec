/** The kernel's list format ("0-3,8,10-11"; Documentation/admin-guide/cputopology.rst). */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-');
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    if (!Number.isInteger(lo) || !Number.isInteger(hi)) throw new RangeError(`bad list element "${part}" in "${text.trim()}"`);
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}
