/**
 * Draws a task's heat history (damo's heatmap idea): address across, time
 * down, one row per cycle (oldest at the top), one cell per heat-strip
 * bucket. A cell's colour is the mean access count of its present bytes
 * over the cycle's scans (blue cold, through yellow, to red hot); swapped
 * memory is violet, memory neither present nor swapped is grey. SVG for
 * documents, PNG (written here: IHDR, one deflated IDAT, IEND) for
 * dashboards and mail; no dependency beyond node:zlib.
 */
import { deflateSync } from 'node:zlib';
import type { HeatStrip } from '../feed/heat.js';

export type Rgb = [number, number, number];

export const SWAPPED_RGB: Rgb = [120, 60, 170];
export const EMPTY_RGB: Rgb = [200, 200, 200];

/** Access percent (0..100) to a colour: blue, cyan, yellow, red. */
export function heatRgb(accessPercent: number): Rgb {
  const stops: Array<[number, Rgb]> = [[0, [30, 60, 200]], [33, [40, 190, 210]], [66, [240, 210, 40]], [100, [220, 30, 30]]];
  const p = Math.min(100, Math.max(0, accessPercent));
  for (let i = 1; i < stops.length; i++) {
    const [p1, c1] = stops[i]!;
    const [p0, c0] = stops[i - 1]!;
    if (p <= p1) {
      const t = (p - p0) / (p1 - p0);
      return [0, 1, 2].map((k) => Math.round(c0[k]! + (c1[k]! - c0[k]!) * t)) as Rgb;
    }
  }
  return stops[stops.length - 1]![1];
}

/** The colour of one cell. */
export function cellRgb(strip: HeatStrip, bucket: number): Rgb {
  const present = strip.present[bucket] ?? 0;
  const swapped = strip.swapped[bucket] ?? 0;
  if (present === 0 && swapped > 0) return SWAPPED_RGB;
  const access = strip.access[bucket] ?? -1;
  return access < 0 ? EMPTY_RGB : heatRgb(access);
}

export interface HeatImageOptions {
  /** pixels per bucket and per cycle */
  cellPx?: number;
  title?: string;
}

const hex = (c: Rgb): string => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
const esc = (t: string): string => t.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The heat map as an SVG document; `data-bucket`/`data-cycle` on each cell let tools (and tests) read it back. */
export function heatSvg(strips: readonly HeatStrip[], opts: HeatImageOptions = {}): string {
  const cell = opts.cellPx ?? 6;
  const buckets = Math.max(1, ...strips.map((s) => s.access.length));
  const top = 24;
  const width = buckets * cell;
  const height = top + strips.length * cell + 18;
  const rows = strips.map((s, y) =>
    Array.from({ length: s.access.length }, (_, b) => `<rect x="${b * cell}" y="${top + y * cell}" width="${cell}" height="${cell}" fill="${hex(cellRgb(s, b))}" data-cycle="${y}" data-bucket="${b}"/>`).join(''),
  );
  const total = strips[strips.length - 1]?.totalBytes ?? 0;
  const title = opts.title ?? 'access heat';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<text x="0" y="14">${esc(`${title}: ${strips.length} cycles, ${(total / 2 ** 20).toFixed(0)} MiB, address across, time down`)}</text>`,
    ...rows,
    `<text x="0" y="${height - 4}">blue cold, red hot, violet swapped, grey not present</text>`,
    '</svg>',
    '',
  ].join('\n');
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

/** The heat map as an RGB PNG (no text: the colours alone). */
export function heatPng(strips: readonly HeatStrip[], opts: HeatImageOptions = {}): Buffer {
  const cell = opts.cellPx ?? 6;
  const buckets = Math.max(1, ...strips.map((s) => s.access.length));
  const width = buckets * cell;
  const height = Math.max(1, strips.length) * cell;
  const stride = width * 3 + 1;
  const raw = Buffer.alloc(stride * height, 0);
  for (let y = 0; y < height; y++) {
    const strip = strips[Math.floor(y / cell)];
    for (let x = 0; x < width; x++) {
      const b = Math.floor(x / cell);
      const c = strip && b < strip.access.length ? cellRgb(strip, b) : EMPTY_RGB;
      raw.set(c, y * stride + 1 + x * 3);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
