/**
 * What a QEMU command line says about guest RAM: the memory backends
 * (`-object memory-backend-file|ram|memfd`, in the JSON form libvirt >= 7
 * writes or the older `key=value,...` form), which of them are guest NUMA
 * cells (`-numa node,...,memdev=ID`), the guest name (`-name
 * guest=NAME,...`) and UUID (`-uuid`). A backend's `id` is the RAMBlock
 * name QEMU's migration stream uses (`pc.ram` without guest NUMA,
 * `ram-node0`, ... with it).
 */

export interface RamBackend {
  /** the backend's QOM id = RAMBlock id */
  id: string;
  /** memory-backend-file, memory-backend-ram, memory-backend-memfd */
  qomType: string;
  sizeBytes: number;
  /** memory-backend-file: the file or directory (hugetlbfs mount) backing it */
  memPath?: string;
  /** host nodes the backend is bound to (`host-nodes`), when set */
  hostNodes?: number[];
  /** the guest NUMA node this backend is, when the guest has NUMA cells */
  guestNode?: number;
  share?: boolean;
}

export interface QemuCmdline {
  /** from `-name guest=NAME` */
  guestName?: string;
  /** from `-uuid UUID` (libvirt always passes it) */
  uuid?: string;
  ramBackends: RamBackend[];
  /** total guest RAM from `-m` (bytes), when given */
  memoryBytes?: number;
}

/** /proc/PID/cmdline text (NUL-separated) to argv. */
export function splitCmdline(raw: string): string[] {
  const args = raw.split('\0');
  if (args.length > 0 && args[args.length - 1] === '') args.pop();
  return args;
}

/** QEMU's `a=b,c=d` option syntax, where `,,` is a literal comma. */
export function parseKeyValueOpts(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ',') {
      if (text[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  for (const [i, part] of parts.entries()) {
    const eq = part.indexOf('=');
    // A leading bare word is the implied first key (`-numa node,...` -> type=node; `-object memory-backend-ram,...` -> qom-type).
    if (eq < 0) out[i === 0 ? '' : part] = i === 0 ? part : 'on';
    else out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** QEMU sizes: bytes as a number or with a k/M/G/T suffix (powers of 1024). */
export function parseQemuSize(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value !== 'string') return undefined;
  const m = /^([0-9]+)([kKmMgGtT]?)[bB]?$/.exec(value.trim());
  if (!m) return undefined;
  const shift = { '': 0, k: 10, m: 20, g: 30, t: 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Number(m[1]) * 2 ** shift;
}

function parseNodeList(value: unknown): number[] | undefined {
  if (Array.isArray(value)) return value.filter((n): n is number => Number.isInteger(n));
  if (typeof value !== 'string' || value === '') return undefined;
  const out: number[] = [];
  for (const part of value.split(/[:;]/)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    for (let n = Number(m[1]); n <= Number(m[2] ?? m[1]); n++) out.push(n);
  }
  return out;
}

function backendFrom(opts: Record<string, unknown>): RamBackend | undefined {
  const qomType = String(opts['qom-type'] ?? opts[''] ?? '');
  if (!qomType.startsWith('memory-backend-')) return undefined;
  const id = typeof opts.id === 'string' ? opts.id : undefined;
  const sizeBytes = parseQemuSize(opts.size);
  if (id === undefined || sizeBytes === undefined) return undefined;
  const backend: RamBackend = { id, qomType, sizeBytes };
  if (typeof opts['mem-path'] === 'string') backend.memPath = opts['mem-path'];
  const hostNodes = parseNodeList(opts['host-nodes']);
  if (hostNodes) backend.hostNodes = hostNodes;
  if (opts.share !== undefined) backend.share = opts.share === true || opts.share === 'on' || opts.share === 'yes';
  return backend;
}

/** Parses a QEMU argv (as read from /proc/PID/cmdline). */
export function parseQemuCmdline(argv: readonly string[]): QemuCmdline {
  const out: QemuCmdline = { ramBackends: [] };
  const guestNodeOf = new Map<string, number>();
  for (let i = 0; i < argv.length - 1; i++) {
    const flag = argv[i];
    const value = argv[i + 1]!;
    if (flag === '-name') {
      const opts = parseKeyValueOpts(value);
      out.guestName = opts.guest ?? opts[''];
    } else if (flag === '-uuid') {
      out.uuid = value;
    } else if (flag === '-object') {
      let opts: Record<string, unknown> | undefined;
      if (value.startsWith('{')) {
        try {
          const parsed: unknown = JSON.parse(value);
          if (typeof parsed === 'object' && parsed !== null) opts = parsed as Record<string, unknown>;
        } catch {
          opts = undefined;
        }
      } else {
        opts = parseKeyValueOpts(value);
      }
      const backend = opts ? backendFrom(opts) : undefined;
      if (backend) out.ramBackends.push(backend);
    } else if (flag === '-numa') {
      const opts = parseKeyValueOpts(value);
      if ((opts[''] ?? opts.type) === 'node' && opts.memdev !== undefined && opts.nodeid !== undefined) {
        guestNodeOf.set(opts.memdev, Number(opts.nodeid));
      }
    } else if (flag === '-m') {
      const opts = parseKeyValueOpts(value);
      const size = parseQemuSize(opts.size ?? opts['']);
      if (size !== undefined) out.memoryBytes = /^[0-9]+$/.test(opts.size ?? opts[''] ?? '') ? size * 2 ** 20 : size;
    }
  }
  for (const backend of out.ramBackends) {
    const node = guestNodeOf.get(backend.id);
    if (node !== undefined) backend.guestNode = node;
  }
  return out;
}
