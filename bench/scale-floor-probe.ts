/**
 * Loaded with `node --import` into the process bench/scale-floor.ts
 * measures (virt-tierd or a bare node): after VT_PROBE_MS it writes what
 * the process holds to VT_PROBE_OUT as JSON and exits. Not part of the
 * daemon.
 */
import v8 from 'node:v8';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const MiB = 2 ** 20;
const kbField = (text: string, key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN) / 1024;

/** RSS MiB per mapped file ([anon] for anonymous mappings), from /proc/self/smaps. */
function rssByMapping(): Record<string, number> {
  const out: Record<string, number> = {};
  let cur = '[anon]';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      cur = head[1] || '[anon]';
      continue;
    }
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss) out[cur] = (out[cur] ?? 0) + Number(rss[1]) / 1024;
  }
  return out;
}

export interface FloorProbe {
  rssMiB: number; rssAnonMiB: number; rssFileMiB: number; pssMiB: number;
  heapTotalMiB: number; heapUsedMiB: number; externalMiB: number; arrayBuffersMiB: number;
  newSpaceMiB: number; oldSpaceMiB: number; codeSpaceMiB: number; largeObjectMiB: number;
  bytecodeMiB: number; codeMiB: number;
  nodeBinaryMiB: number; sharedLibsMiB: number; addonMiB: number; threads: number;
  /** CommonJS files loaded per package (ESM files of dist/ are not in require.cache) */
  cjsFilesByPackage: Record<string, number>;
}

setTimeout(() => {
  const status = readFileSync('/proc/self/status', 'utf8');
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const byMap = rssByMapping();
  const mem = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size / MiB]));
  const code = v8.getHeapCodeStatistics();
  const cjs: Record<string, number> = {};
  for (const f of Object.keys(createRequire(import.meta.url).cache)) {
    const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(f);
    const k = m ? m[1]! : 'other';
    cjs[k] = (cjs[k] ?? 0) + 1;
  }
  const sum = (pred: (name: string) => boolean): number => Object.entries(byMap).filter(([n]) => pred(n)).reduce((a, [, v]) => a + v, 0);
  const out: FloorProbe = {
    rssMiB: kbField(status, 'VmRSS'), rssAnonMiB: kbField(status, 'RssAnon'), rssFileMiB: kbField(status, 'RssFile'), pssMiB: kbField(rollup, 'Pss'),
    heapTotalMiB: mem.heapTotal / MiB, heapUsedMiB: mem.heapUsed / MiB, externalMiB: mem.external / MiB, arrayBuffersMiB: mem.arrayBuffers / MiB,
    newSpaceMiB: spaces.new_space ?? 0, oldSpaceMiB: spaces.old_space ?? 0, codeSpaceMiB: spaces.code_space ?? 0, largeObjectMiB: spaces.large_object_space ?? 0,
    bytecodeMiB: code.bytecode_and_metadata_size / MiB, codeMiB: code.code_and_metadata_size / MiB,
    nodeBinaryMiB: sum((n) => n === process.execPath),
    sharedLibsMiB: sum((n) => /\.so(\.|$)/.test(n)),
    addonMiB: sum((n) => n.endsWith('.node')),
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]),
    cjsFilesByPackage: cjs,
  };
  writeFileSync(process.env.VT_PROBE_OUT!, JSON.stringify(out));
  process.exit(0);
}, Number(process.env.VT_PROBE_MS ?? 3000));
