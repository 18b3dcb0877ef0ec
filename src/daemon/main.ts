/**
 * virt-tierd: wiring only. Parses etmemd's flags, builds the registry, the
 * engines, the control socket and the optional components, and stops
 * everything cleanly on SIGTERM/SIGINT.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createHandlers } from '../api/handlers.js';
import { ControlServer } from '../api/server.js';
import { loadConfigFile } from '../config/parse.js';
import { VirtTierError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { readHostFacts } from '../model/host-facts.js';
import { Registry } from '../model/registry.js';
import { EngineFactories } from '../runner/registry.js';
import { DAEMON_USAGE, parseDaemonArgs, type DaemonArgs } from './args.js';
import { startConfigReloads } from './reload.js';
import { createTargets, wireComponents } from './wiring.js';

/** Set in the child of `-m`: tells it to report readiness over IPC. */
const READY_ENV = 'VIRT_TIERD_NOTIFY_PARENT';

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The feed token: the file's first line; kept out of argv so `ps` never shows it. */
function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VirtTierError('OPT_INVAL', `--http-token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`, { field: '--http-token-file', value: file });
  }
  return text.split('\n')[0]!.trim();
}

function defaultPidFile(args: DaemonArgs): string {
  return args.pidFile ?? `/run/virt-tierd.${args.socketName.replace(/[^A-Za-z0-9._-]/g, '_')}.pid`;
}

/** -m: start a detached child, wait until it listens, write its pidfile, exit. */
async function forkAndWait(argv: string[], args: DaemonArgs): Promise<number> {
  const childArgv = argv.filter((a) => a !== '-m' && a !== '--mode-systemctl');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...childArgv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, [READY_ENV]: '1' },
  });
  const outcome = await new Promise<'ready' | number>((resolve) => {
    child.once('message', (m) => resolve(m === 'ready' ? 'ready' : 1));
    child.once('exit', (code) => resolve(code ?? 1));
  });
  if (outcome !== 'ready') {
    process.stderr.write(`virt-tierd: daemon failed to start (exit ${outcome})\n`);
    return typeof outcome === 'number' && outcome !== 0 ? outcome : 1;
  }
  writeFileSync(defaultPidFile(args), `${child.pid}\n`, { mode: 0o644 });
  child.disconnect();
  child.unref();
  return 0;
}

async function runDaemon(args: DaemonArgs): Promise<void> {
  const log: Logger = createLogger(args.logLevel);
  const startedAtMs = Date.now();
  const libvirt = { enabled: args.connectUri !== null, uri: args.connectUri ?? '', autoDomains: args.autoDomains, syncIntervalMs: args.syncIntervalS * 1000 };
  const { targets, connection } = createTargets(libvirt);
  // One set of engine factories per daemon, filled by the wiring: nothing process-wide.
  const engines = new EngineFactories();
  const registry = new Registry(log, { engines, targets });
  const components = await wireComponents({
    log,
    registry,
    engines,
    socketName: args.socketName,
    tracker: args.tracker,
    libvirt,
    connection,
    feed: args.http ? { ...args.http, token: args.httpTokenFile ? readTokenFile(args.httpTokenFile) : undefined } : undefined,
  });
  const handlers = createHandlers({
    registry,
    loadConfigFile: (file, host) => loadConfigFile(file, host),
    hostFacts: () => readHostFacts(),
    startedAtMs,
    version: packageVersion(),
    extra: components.handlers,
  });
  const server = new ControlServer({ socketName: args.socketName, handlers, log, allowedGid: args.allowedGid });

  for (const file of args.loadFiles) {
    await registry.add(await loadConfigFile(file, await readHostFacts()));
    log.info('loaded config', { file });
  }
  await startConfigReloads(args, registry, log); // --config: loaded now, reloaded on SIGHUP (src/daemon/reload.ts)
  try {
    await server.listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `socket name "${args.socketName}" is in use: is another virt-tierd running?` : (err as Error).message;
    throw new VirtTierError('OPT_INTER_ERR', `cannot listen: ${why}`, { field: '-s', value: args.socketName });
  }
  log.info('virt-tierd listening', { socket: args.socketName, pid: process.pid });
  if (process.env[READY_ENV] && process.send) {
    process.send('ready');
    process.disconnect?.();
  }

  // SIGPIPE must never kill the daemon (Node ignores it already; keep it explicit).
  process.on('SIGPIPE', () => undefined);
  // Thirdparty engines run in-process: a plugin's stray asynchronous throw
  // (a timer callback, an unawaited promise) lands here. It is logged and
  // the daemon keeps serving; every call into a plugin is also wrapped
  // (src/runner/thirdparty.ts), so this is the last line, not the first.
  process.on('uncaughtException', (err) => log.error('uncaught exception (plugin or bug); continuing', { error: err.stack ?? String(err) }));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection (plugin or bug); continuing', { error: err instanceof Error ? err.stack : String(err) }));
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    void (async () => {
      await server.close();
      await components.close();
      await registry.shutdown();
      if (args.pidFile || process.env[READY_ENV]) rmSync(defaultPidFile(args), { force: true });
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export async function main(argv: string[]): Promise<number> {
  let args: DaemonArgs;
  try {
    args = parseDaemonArgs(argv);
  } catch (err) {
    process.stderr.write(`virt-tierd: ${(err as Error).message}\n${DAEMON_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(DAEMON_USAGE + '\n');
    return 0;
  }
  if (args.systemctlMode) return forkAndWait(argv, args);
  try {
    await runDaemon(args);
    return -1; // keeps running
  } catch (err) {
    const e = err as VirtTierError;
    process.stderr.write(`virt-tierd: ${e.code ? e.code + ': ' : ''}${e.message}\n`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main(process.argv.slice(2)).then((code) => {
    if (code >= 0) process.exit(code);
  });
}
