/**
 * Logging through winston. etmemd's `-l` levels map as 0 debug, 1 info,
 * 2 warning, 3 error. The daemon logs to stderr: in the foreground that is
 * the terminal, under systemd (conf/virt-tierd.service) it is the journal,
 * and then each event is one line with a syslog priority prefix and no
 * timestamp of its own (the journal keeps one per line already). A stderr
 * whose reader is gone mutes the log rather than failing the daemon.
 */
import { fstatSync } from 'node:fs';
import winston from 'winston';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** What engines, plugins and parts log through (a winston logger, or nullLogger). */
export interface EngineLogger {
  debug(msg: string, meta?: Record<string, unknown>): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  error(msg: string, meta?: Record<string, unknown>): void;
}

export type Logger = EngineLogger & { child(meta: Record<string, unknown>): Logger };

/** syslog(3) priorities of our levels, for the journal's `<N>` line prefix (sd-daemon(3)). */
const SYSLOG_PRIORITY: Record<string, number> = { debug: 7, info: 6, warn: 4, error: 3 };

/**
 * True when stderr is the journal: systemd sets JOURNAL_STREAM to the
 * "DEV:INODE" of the stream it connected (systemd.exec(5)), and checking it
 * against fstat(2) tells a journal stderr from one a child inherited and
 * then redirected.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env, statFd: (fd: number) => { dev: number; ino: number } = fstatSync): boolean {
  const want = env.JOURNAL_STREAM;
  if (!want) return false;
  try {
    const st = statFd(2);
    return want === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** One journal line: `<priority>message {meta}`; the journal stamps time and pid itself, and a newline would split the event. */
export function journalLine(level: string, message: string, meta: Record<string, unknown>): string {
  const rest = Object.keys(meta).length > 0 ? ' ' + JSON.stringify(meta) : '';
  return `<${SYSLOG_PRIORITY[level] ?? 6}>${(message + rest).replace(/\r?\n/g, '\\n')}`;
}

export interface LoggerOptions {
  silent?: boolean;
  /** the journal's format (see stderrIsJournal); default: detected */
  journal?: boolean;
}

export function createLogger(etmemLevel: number, opts: LoggerOptions = {}): Logger {
  const level = LOG_LEVELS[etmemLevel] ?? 'error';
  const journal = opts.journal ?? stderrIsJournal();
  const format = journal
    ? winston.format.printf(({ level: lvl, message, ...meta }) => journalLine(lvl, String(message), meta))
    : winston.format.combine(
        winston.format.timestamp(),
        winston.format.printf(({ timestamp, level: lvl, message, ...meta }) => {
          const rest = Object.keys(meta).length > 0 ? ' ' + JSON.stringify(meta) : '';
          return `${String(timestamp)} virt-tierd[${process.pid}] ${lvl}: ${String(message)}${rest}`;
        }),
      );
  const stderrTransport = new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] });
  const logger = winston.createLogger({
    level,
    silent: opts.silent ?? false,
    format,
    transports: [stderrTransport],
  });
  muteWhenGone(process.stderr, stderrTransport);
  return logger as unknown as Logger;
}

/**
 * A write to a stderr whose reader is gone (journald restarted, the
 * supervisor or terminal died) fails with EPIPE on the stream. Unhandled,
 * that error reached the uncaught-exception handler, which logged it to
 * the same stderr: a loop that starved the event loop (no socket, no
 * SIGTERM). The first error mutes the console instead; the daemon runs on
 * without logs, which is all a dead stderr allows. Listeners are added once
 * per stream, however many loggers exist.
 */
const muted = new WeakMap<NodeJS.WriteStream, Set<{ silent?: boolean }>>();
function muteWhenGone(stream: NodeJS.WriteStream, transport: { silent?: boolean }): void {
  let transports = muted.get(stream);
  if (!transports) {
    const set = new Set<{ silent?: boolean }>();
    transports = set;
    muted.set(stream, set);
    stream.on('error', () => {
      for (const t of set) t.silent = true;
    });
  }
  transports.add(transport);
}

/** A logger that drops everything (unit tests, CLI-side use of engines). */
export function nullLogger(): Logger {
  const noop = (): void => undefined;
  const l: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => l };
  return l;
}
