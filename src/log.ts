/**
 * Logging through winston. etmemd's `-l` levels map as 0 debug, 1 info,
 * 2 warning, 3 error. The daemon logs to stderr: in the foreground that is
 * the terminal, under systemd (conf/virt-tierd.service) it is the journal.
 */
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

export function createLogger(etmemLevel: number, opts: { silent?: boolean } = {}): Logger {
  const level = LOG_LEVELS[etmemLevel] ?? 'error';
  const logger = winston.createLogger({
    level,
    silent: opts.silent ?? false,
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.printf(({ timestamp, level: lvl, message, ...meta }) => {
        const rest = Object.keys(meta).length > 0 ? ' ' + JSON.stringify(meta) : '';
        return `${String(timestamp)} virt-tierd[${process.pid}] ${lvl}: ${String(message)}${rest}`;
      }),
    ),
    transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] })],
  });
  return logger as unknown as Logger;
}

/** A logger that drops everything (unit tests, CLI-side use of engines). */
export function nullLogger(): Logger {
  const noop = (): void => undefined;
  const l: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => l };
  return l;
}
