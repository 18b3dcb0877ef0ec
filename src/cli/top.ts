/**
 * `virt-tier top [--once] [--json] [--delay SECONDS] [--sort COLUMN]`: a
 * live terminal view in the manner of virt-top, one row per task (guest),
 * from the daemon's `project show` over the control socket (no --http
 * needed). DRAM is a task's memory on NUMA nodes with CPUs, AEP on
 * memory-only nodes (read from sysfs on this host, where the daemon runs).
 * Rates need two samples, so `--once` and `--json` wait one delay.
 *
 * Exit codes (docs/cli.md): 0 done, 1 the daemon is not reachable, 2 a bad
 * option or no terminal, 3 the terminal is smaller than MIN_COLUMNS x MIN_ROWS.
 */
import { taskUpdate, type TaskUpdate } from '../feed/snapshot.js';
import type { TaskView } from '../model/task-runtime.js';
import { readNumaTopology } from '../platform/numa-topology.js';
import { liveIO } from '../platform/io.js';
import type { CliIO } from './command.js';
import { daemonCall } from './daemon-call.js';
import { padLeft, padRight, printJson } from './format.js';
import { JSON_OPTION, SOCKET_OPTION, socketName, usageError } from './options.js';
import { defineVerb } from './verb.js';

export const MIN_COLUMNS = 60;
export const MIN_ROWS = 8;
export const SORT_COLUMNS = ['dram', 'aep', 'swap', 'hot', 'cold', 'moves', 'errors', 'name'] as const;
export type SortColumn = (typeof SORT_COLUMNS)[number];
/** The interactive keys, one per sort column. */
const SORT_KEYS: Record<string, SortColumn> = { d: 'dram', a: 'aep', w: 'swap', h: 'hot', c: 'cold', m: 'moves', e: 'errors', n: 'name' };

export interface TopRow {
  key: string;
  /** the domain for type=domain tasks, else the task name */
  name: string;
  project: string;
  engine: string;
  state: TaskUpdate['state'];
  dramBytes: number;
  aepBytes: number;
  swapBytes: number;
  hotBytes: number;
  coldBytes: number;
  /** bytes promoted plus demoted per second since the previous sample; null on the first */
  movesBytesPerS: number | null;
  /** the mover's per-page failures per second since the previous sample; null on the first */
  errorsPerS: number | null;
}

export interface TopSample {
  timeMs: number;
  tasks: TaskUpdate[];
}

const movedTotal = (u: TaskUpdate): number => (u.moves?.totalPromotedBytes ?? u.moves?.promotedBytes ?? 0) + (u.moves?.totalDemotedBytes ?? u.moves?.demotedBytes ?? 0);
const roundErrors = (u: TaskUpdate): number => Object.values(u.errors.moverByErrno).reduce((a, b) => a + b, 0);

/** Rows from two samples (pure). `dramNodes`: nodes with CPUs; every other node counts as AEP. */
export function topRows(prev: TopSample | undefined, cur: TopSample, dramNodes: ReadonlySet<number>): TopRow[] {
  const before = new Map(prev?.tasks.map((u) => [u.key, u]) ?? []);
  const dtS = prev ? Math.max(cur.timeMs - prev.timeMs, 1) / 1000 : 0;
  return cur.tasks.map((u) => {
    const old = before.get(u.key);
    const sum = (pick: (n: TaskUpdate['nodes'][number]) => number, nodes = u.nodes): number => nodes.reduce((a, n) => a + pick(n), 0);
    const onDram = u.nodes.filter((n) => dramNodes.has(n.node));
    const onAep = u.nodes.filter((n) => n.node >= 0 && !dramNodes.has(n.node));
    // A round's errors count once: only when the round changed since the previous sample.
    const newRound = old !== undefined && u.round !== undefined && u.round !== old.round;
    return {
      key: u.key,
      name: u.domain ?? u.name,
      project: u.project,
      engine: u.engine,
      state: u.state,
      dramBytes: sum((n) => n.usedBytes, onDram),
      aepBytes: sum((n) => n.usedBytes, onAep),
      swapBytes: u.swappedBytes ?? u.swaps?.totalSwappedOutBytes ?? u.swaps?.swappedOutBytes ?? 0,
      hotBytes: sum((n) => n.hotBytes),
      coldBytes: sum((n) => n.coldBytes),
      movesBytesPerS: old ? Math.max(movedTotal(u) - movedTotal(old), 0) / dtS : null,
      errorsPerS: old ? (newRound ? roundErrors(u) : 0) / dtS : null,
    };
  });
}

export function sortRows(rows: TopRow[], by: SortColumn, reverse = false): TopRow[] {
  const value: Record<SortColumn, (r: TopRow) => number | string> = {
    dram: (r) => r.dramBytes,
    aep: (r) => r.aepBytes,
    swap: (r) => r.swapBytes,
    hot: (r) => r.hotBytes,
    cold: (r) => r.coldBytes,
    moves: (r) => r.movesBytesPerS ?? -1,
    errors: (r) => r.errorsPerS ?? -1,
    name: (r) => r.name,
  };
  const v = value[by];
  // Numbers largest first, names A to Z (virt-top's habit); ties by name, so rows do not jump.
  const sorted = [...rows].sort((a, b) => {
    const x = v(a);
    const y = v(b);
    const c = typeof x === 'string' ? x.localeCompare(y as string) : (y as number) - x;
    return c !== 0 ? c : a.name.localeCompare(b.name);
  });
  return reverse ? sorted.reverse() : sorted;
}

/** "1.5G", "96M", "12K", "0": four characters or so, as top prints sizes. */
export function humanBytes(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? String(Math.round(v)) : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

const COLUMNS: Array<{ title: string; sort: SortColumn | null; width: number; cell(r: TopRow): string }> = [
  { title: 'DRAM', sort: 'dram', width: 7, cell: (r) => humanBytes(r.dramBytes) },
  { title: 'AEP', sort: 'aep', width: 7, cell: (r) => humanBytes(r.aepBytes) },
  { title: 'SWAP', sort: 'swap', width: 7, cell: (r) => humanBytes(r.swapBytes) },
  { title: 'HOT', sort: 'hot', width: 7, cell: (r) => humanBytes(r.hotBytes) },
  { title: 'COLD', sort: 'cold', width: 7, cell: (r) => humanBytes(r.coldBytes) },
  { title: 'MOVES/s', sort: 'moves', width: 8, cell: (r) => (r.movesBytesPerS === null ? '-' : humanBytes(r.movesBytesPerS)) },
  { title: 'ERR/s', sort: 'errors', width: 6, cell: (r) => (r.errorsPerS === null ? '-' : r.errorsPerS.toFixed(r.errorsPerS < 10 ? 1 : 0)) },
  { title: 'STATE', sort: null, width: 7, cell: (r) => r.state },
];

/** The screen: a title line, a header, as many rows as fit in `rows` lines, each cut to `columns`. */
export function renderScreen(rows: TopRow[], view: { sort: SortColumn; reverse: boolean; columns: number; rows: number; timeMs: number; socket: string }): string {
  const fixed = COLUMNS.reduce((a, c) => a + c.width + 1, 0);
  const nameWidth = Math.max(view.columns - fixed - 1, 8);
  const clock = new Date(view.timeMs).toISOString().slice(11, 19);
  const title = `virt-tier top - ${clock}  socket ${view.socket}  tasks ${rows.length}  sort ${view.sort}${view.reverse ? ' (reversed)' : ''}`;
  const keys = 'q quit  d a w h c m e n sort  r reverse';
  const mark = (c: (typeof COLUMNS)[number]): string => (c.sort === view.sort ? `${c.title}${view.reverse ? '^' : 'v'}` : c.title);
  const header = padRight(view.sort === 'name' ? 'NAMEv' : 'NAME', nameWidth) + ' ' + COLUMNS.map((c) => padLeft(mark(c), c.width)).join(' ');
  const body = rows.slice(0, Math.max(view.rows - 4, 0)).map((r) => {
    const name = r.name.length > nameWidth ? r.name.slice(0, nameWidth - 1) + '~' : r.name;
    return padRight(name, nameWidth) + ' ' + COLUMNS.map((c) => padLeft(c.cell(r), c.width)).join(' ');
  });
  const lines = [title, keys, '', header, ...(rows.length === 0 ? ['(no tasks: add some with virt-tier obj add, or run virt-tierd --auto-domains)'] : body)];
  return lines.map((l) => (l.length > view.columns ? l.slice(0, view.columns) : l)).join('\n');
}

/** Nodes with CPUs (DRAM); memory-only nodes are the AEP/CXL tier. One node with CPUs when sysfs says nothing. */
async function dramNodes(): Promise<Set<number>> {
  try {
    const topo = await readNumaTopology(liveIO);
    const withCpus = topo.nodes.filter((n) => n.cpus.length > 0).map((n) => n.id);
    return new Set(withCpus.length > 0 ? withCpus : [0]);
  } catch {
    return new Set([0]);
  }
}

async function sample(socket: string): Promise<TopSample> {
  const projects = (await daemonCall(socket, 'project.show', {}, 10_000)) as Array<{ tasks: TaskView[] }>;
  return { timeMs: Date.now(), tasks: projects.flatMap((p) => p.tasks.map((t) => taskUpdate(t, undefined))) };
}

/** The terminal `top` draws on: injected so the loop can be driven without a TTY in unit tests. */
export interface TopTerminal {
  isTTY: boolean;
  size(): { columns: number; rows: number };
  write(text: string): void;
  /** calls `onKey` per key pressed until the returned function is called */
  keys(onKey: (key: string) => void): () => void;
  onResize(cb: () => void): () => void;
}

export const processTerminal: TopTerminal = {
  get isTTY() {
    return process.stdout.isTTY === true && process.stdin.isTTY === true;
  },
  size: () => ({ columns: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 }),
  write: (text) => void process.stdout.write(text),
  keys(onKey) {
    const listener = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) onKey(ch);
    };
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', listener);
    return () => {
      process.stdin.off('data', listener);
      process.stdin.setRawMode(false);
      process.stdin.pause();
    };
  },
  onResize(cb) {
    process.stdout.on('resize', cb);
    return () => void process.stdout.off('resize', cb);
  },
};

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The interactive loop; resolves with the exit code. */
export async function runInteractive(opts: { socket: string; delayMs: number; sort: SortColumn }, term: TopTerminal, io: CliIO): Promise<number> {
  const tooSmall = (): string | undefined => {
    const { columns, rows } = term.size();
    return columns < MIN_COLUMNS || rows < MIN_ROWS ? `terminal is ${columns}x${rows}; virt-tier top needs at least ${MIN_COLUMNS}x${MIN_ROWS}` : undefined;
  };
  const small = tooSmall();
  if (small) {
    io.err(`virt-tier: OPT_INVAL: ${small}\n`);
    return 3;
  }
  let prev = await sample(opts.socket); // an unreachable daemon fails here, before the screen is taken
  let sort = opts.sort;
  let reverse = false;
  const nodes = await dramNodes();
  let rows = topRows(undefined, prev, nodes);
  let done: ((code: number) => void) | undefined;
  const finished = new Promise<number>((resolve) => (done = resolve));
  const draw = (): void => {
    const small = tooSmall();
    const { columns, rows: height } = term.size();
    const text = small ?? renderScreen(sortRows(rows, sort, reverse), { sort, reverse, columns, rows: height, timeMs: Date.now(), socket: opts.socket });
    term.write('\x1b[H\x1b[2J' + text.replace(/\n/g, '\r\n'));
  };
  term.write('\x1b[?1049h\x1b[?25l'); // alternate screen, cursor hidden: the shell's screen comes back on exit
  const stopKeys = term.keys((key) => {
    if (key === 'q' || key === '\x03') done!(0);
    else if (key === 'r') reverse = !reverse;
    else if (SORT_KEYS[key]) {
      sort = SORT_KEYS[key]!;
      reverse = false;
    } else return;
    draw();
  });
  const stopResize = term.onResize(draw);
  let failure: unknown;
  void (async () => {
    try {
      draw();
      for (;;) {
        const outcome = await Promise.race([sleepMs(opts.delayMs).then(() => 'tick' as const), finished.then(() => 'done' as const)]);
        if (outcome === 'done') return;
        const cur = await sample(opts.socket);
        rows = topRows(prev, cur, nodes);
        prev = cur;
        draw();
      }
    } catch (err) {
      failure = err;
      done!(1);
    }
  })();
  const code = await finished;
  stopKeys();
  stopResize();
  term.write('\x1b[?25h\x1b[?1049l');
  if (failure !== undefined) throw failure;
  return code;
}

const USAGE = `Usage: virt-tier top [--once] [--json] [-d|--delay SECONDS] [--sort COLUMN] [-s|--socket SOCKET]
  One row per task (guest): DRAM, AEP (memory-only NUMA nodes), swap, hot and cold bytes,
  bytes moved and mover errors per second. Keys: q quit, d a w h c m e n sort by
  DRAM, AEP, swap, hot, cold, moves, errors, name; r reverse.
  --delay   seconds between refreshes, 1..3600 (default 2)
  --sort    ${SORT_COLUMNS.join('|')} (default dram)
  --once    print one table and exit (waits one delay: rates need two samples)
  --json    print the rows as JSON and exit (waits one delay)
  Exit: 0 done, 1 daemon not reachable, 2 bad option or no terminal, 3 terminal smaller than ${MIN_COLUMNS}x${MIN_ROWS}`;

export const command = defineVerb({
  name: 'top',
  summary: 'a live view of every task: DRAM, AEP, swap, hot/cold bytes, moves and errors per second',
  usage: USAGE,
  options: [
    { key: 'once', long: '--once', takesValue: false },
    JSON_OPTION,
    { key: 'delay', short: '-d', long: '--delay', takesValue: true, valueName: 'SECONDS' },
    { key: 'sort', long: '--sort', takesValue: true, valueName: 'COLUMN' },
    SOCKET_OPTION,
  ],
  async run(_action, opts, io) {
    const delay = typeof opts.values.delay === 'string' ? opts.values.delay : '2';
    if (!/^\d+$/.test(delay) || Number(delay) < 1 || Number(delay) > 3600) throw usageError(`--delay must be 1..3600 seconds, got ${JSON.stringify(delay)}`, '--delay', delay, '1..3600 (seconds)');
    const sort = (typeof opts.values.sort === 'string' ? opts.values.sort : 'dram') as SortColumn;
    if (!(SORT_COLUMNS as readonly string[]).includes(sort)) throw usageError(`--sort: unknown column ${JSON.stringify(sort)}`, '--sort', sort, SORT_COLUMNS.join('|'));
    const socket = socketName(opts);
    const delayMs = Number(delay) * 1000;
    if (opts.values.once || opts.values.json) {
      const first = await sample(socket);
      await sleepMs(delayMs);
      const rows = sortRows(topRows(first, await sample(socket), await dramNodes()), sort);
      if (opts.values.json) printJson(io, rows);
      else io.out(renderScreen(rows, { sort, reverse: false, columns: Math.max(processTerminal.size().columns, 100), rows: 4 + rows.length, timeMs: Date.now(), socket }) + '\n');
      return 0;
    }
    if (!processTerminal.isTTY) {
      io.err('virt-tier: OPT_INVAL: top needs a terminal (stdin and stdout); use --once or --json in scripts\n');
      return 2;
    }
    return runInteractive({ socket, delayMs, sort }, processTerminal, io);
  },
});
